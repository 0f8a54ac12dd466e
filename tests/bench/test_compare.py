"""``agenttree bench compare``: the side-by-side table with intervals and the token split,
pricing from a settings file, and runs paired case by case with a sign test."""

import pytest
import trio

from agenttree.bench import compare
from agenttree.bench.stats import sign_test
from agenttree.cli import main
from agenttree.errors import PlanError
from agenttree.plan import load_settings

from .fake_provider import FakeProvider
from .helpers import HANG_GUARD_S, TOOL_CALLING, copy_suite, run_bench
from .real_answers import RealModel


def _runs(tmp_path, *models, suite=TOOL_CALLING, cases="m-*"):
    reports = tmp_path / "reports"
    for model in models:
        assert main(["bench", str(suite), "--model", model, "--cases", cases,
                     "--reports", str(reports), "--quiet"]) == 0
    return sorted(str(p) for p in (reports / "tool-calling").iterdir())


def test_the_table_shows_intervals_and_the_token_split(tmp_path, capsys):
    runs = _runs(tmp_path, "scripted:reference", "scripted:naive")
    capsys.readouterr()
    md = tmp_path / "cmp.md"
    assert main(["bench", "compare", *runs, "--markdown", str(md)]) == 0
    table = md.read_text().splitlines()
    assert table[0] == ("| run | suite | model | pass rate | 95% CI | mean score | scored | infra "
                        "| prompt tok | completion tok | cost $ | wall s |")
    reference, naive = table[2].split(" | "), table[3].split(" | ")
    assert reference[2:8] == ["scripted:reference", "100.0% (24/24)", "86.2% to 100.0%",
                              "1.000", "24", "0"]
    assert naive[2:5] == ["scripted:naive", "0.0% (0/24)", "0.0% to 13.8%"]
    # Scripted models report no usage: their token counts are estimates, and say so.
    assert reference[8].startswith("~") and reference[9].startswith("~")
    assert "~ estimated token counts: the model did not report usage" in table
    assert "1.000" in capsys.readouterr().out
    assert main(["bench", "compare"]) == 2


def test_runs_are_paired_case_by_case_with_a_sign_test(tmp_path):
    runs = _runs(tmp_path, "scripted:reference", "scripted:naive")
    text = compare.markdown(runs)
    lines = text.splitlines()
    start = lines.index(f"Paired with {compare.entries(runs)[0].label}:")
    header, _, overall, category, blank = lines[start + 2:start + 7]
    assert header.startswith("| vs baseline | category | cases | better | worse")
    cells = overall.split(" | ")
    assert cells[1:6] == ["all", "24", "0", "24", "-100.0%"]
    assert cells[7] == f"{sign_test(0, 24):.4f} |" and sign_test(0, 24) < 1e-6
    assert category.split(" | ")[1:6] == ["multiple", "24", "0", "24", "-100.0%"]
    assert blank == ""
    assert "scripted:naive: 24 cases differ from the baseline" in text
    assert "- m-add: pass -> fail" in text


def test_a_changed_case_is_left_out_of_the_pairing(tmp_path):
    suite = copy_suite(TOOL_CALLING, tmp_path)
    first = _runs(tmp_path / "a", "scripted:reference", suite=suite, cases="m-a*,m-d*")
    multiple = suite / "cases" / "multiple.edn"
    multiple.write_text(multiple.read_text().replace("What is 19 plus 23?", "19 + 23 = ?"))
    second = _runs(tmp_path / "b", "scripted:naive", suite=suite, cases="m-a*,m-d*")
    (pairing,) = compare.pairings(compare.entries(first + second))
    assert pairing.unpaired == 1  # m-add changed
    assert pairing.rows[0][1:5] == ("all", "2", "0", "2")
    assert [case for case, _, _ in pairing.differ] == ["m-distance", "m-div"]


async def test_reported_tokens_are_not_marked_estimated_and_are_priced(tmp_path):
    provider = FakeProvider(answer=RealModel().answer)
    async with trio.open_nursery() as nursery:
        model = await provider.serve(nursery)
        with trio.fail_after(HANG_GUARD_S):
            await run_bench(TOOL_CALLING, tmp_path / "r", models=(model,), cases="m-*")
        nursery.cancel_scope.cancel()
    settings = tmp_path / "settings.edn"
    settings.write_text('{:providers {} :prices {"fake" {:prompt 2.0 :completion 10.0}}}')
    prices = load_settings(settings).prices
    (row,) = compare.rows(compare.entries([str(tmp_path / "r")]), prices)
    requests = provider.requests
    assert row[8:10] == (f"{50 * requests:,}", f"{10 * requests:,}")
    assert row[10] == f"{(50 * requests * 2.0 + 10 * requests * 10.0) / 1e6:.4f}"
    (unpriced,) = compare.rows(compare.entries([str(tmp_path / "r")]),
                               load_settings(_write(tmp_path, '{:prices {}}')).prices)
    assert unpriced[10] == "no price"


def _write(tmp_path, text):
    path = tmp_path / "other.edn"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("[1 2]", "settings must be a map"),
    ('{:prices {"m" {:prompt -1}}}', "must not be negative"),
    ('{:prices {"m" {:input 1}}}', "unknown key"),
    ('{:prices [1]}', "expected a map"),
    ("{:prices", "EDN syntax error"),
])
def test_malformed_settings_are_one_clear_error(tmp_path, capsys, text, message):
    with pytest.raises(PlanError, match=message):
        load_settings(_write(tmp_path, text))
    runs = _runs(tmp_path, "scripted:reference", cases="m-add")
    capsys.readouterr()
    assert main(["bench", "compare", *runs, "--settings", str(tmp_path / "other.edn")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err

