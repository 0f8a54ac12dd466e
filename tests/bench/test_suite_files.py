"""Malformed suite and case files: one clear line naming the file, exit status 2."""

import shutil
from pathlib import Path

import pytest

from agenttree.bench.suites import SuiteError, load_suite
from agenttree.cli import main

from .helpers import CODING, TOOL_CALLING, copy_suite

CASE = ('{:id "x" :category :simple :prompt "p" :tools ["mul"] '
        ':expect [[{:tool "mul" :args {:a 1 :b 2}}]]}')
SECOND_TURN = '}] [{:tool "mul" :args {:a 2 :b 2}}]]}'
SECOND_CALL = '}} {:tool "mul" :args {:a 2 :b 2}}]]}'


def _tool_suite(tmp_path: Path, case_text: str) -> Path:
    root = copy_suite(TOOL_CALLING, tmp_path)
    (root / "suite.edn").write_text(
        '{:name "t" :version "1" :kind :tool-calling :tools "tools.edn" '
        ':cases ["only.edn"] :decoys 1}')
    (root / "only.edn").write_text(f"[{case_text}]")
    return root


@pytest.mark.parametrize(("case", "message"), [
    ("{:id 3}", ":id must be a case id"),
    (CASE.replace(':category :simple', ':category :odd'), ":category must be one of"),
    (CASE.replace('"mul"]', '"mull"]'), "unknown tool 'mull'"),
    (CASE.replace(':b 2', ':c 2'), "mul has no parameter 'c'"),
    (CASE.replace(' :b 2', ''), "lacks required 'b'"),
    (CASE.replace('{:tool "mul"', '{:tool "add"'), "which the case does not offer"),
    (CASE.replace(':expect [[', ':expect [[] ['), "must be a non-empty vector"),
    (CASE.replace(':simple', ':irrelevance'), "irrelevance and missing-info cases (and only"),
    (CASE.replace(':simple', ':missing-info'), "irrelevance and missing-info cases (and only"),
    (CASE.replace(':simple', ':missing-info').replace('[[{:tool "mul" :args {:a 1 :b 2}}]]', '[]'),
     "missing-info cases (and only they) need :ask"),
    (CASE.replace('}]]}', '}]] :ask "city"}'), "missing-info cases (and only they) need :ask"),
    (CASE.replace(':simple', ':multi-turn'), "a multi-turn case expects at least two turns"),
    (CASE.replace(':simple', ':multi-turn').replace('}]]}', SECOND_TURN),
     "a multi-turn case needs :answer"),
    (CASE.replace('}]]}', '}]] :answer true}'), ":answer must be a number, a string or a set"),
    (CASE.replace(':simple', ':parallel'), "a parallel case expects one turn of several calls"),
    (CASE.replace(':simple', ':parallel-multiple').replace('}}]]}', SECOND_CALL),
     "a parallel-multiple case calls at least two tools"),
    (CASE.replace(':b 2', ':b #{2 nil}'), "a required parameter cannot be left out (nil)"),
    (CASE.replace(':prompt "p"', ':prompt "p" :colour 1'), "unknown key :colour"),
    (CASE.replace('"x"', '"x y"'), "may use only letters"),
    (CASE + " " + CASE, "used twice"),
    ("{:id", "not valid EDN"),
])
def test_malformed_case_is_one_clear_line(tmp_path, case, message):
    root = _tool_suite(tmp_path, case)
    with pytest.raises(SuiteError) as info:
        load_suite(root)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert str(root) in text


def test_malformed_suite_files(tmp_path):
    with pytest.raises(SuiteError, match="not a suite"):
        load_suite(tmp_path)
    (tmp_path / "suite.edn").write_text('{:name "s" :version "1" :kind :poetry}')
    with pytest.raises(SuiteError, match="unknown :kind 'poetry'"):
        load_suite(tmp_path)
    (tmp_path / "suite.edn").write_text('{:name "s" :version "1" :kind :tool-calling '
                                        ':tools "nope.edn" :cases [] :decoys 0}')
    with pytest.raises(SuiteError, match=r"nope\.edn: cannot read"):
        load_suite(tmp_path)


@pytest.mark.parametrize(("old", "new", "message"), [
    (':impl :mul', ':impl :multiply', "unknown :impl 'multiply'"),
    (':match :place', ':match :fuzzy', ":match must be one of text, place, path, timezone"),
    (':description "first addend"}', ':description "first addend" :default 0}',
     "only an :optional parameter can have a :default"),
    (':like ["search_docs"]', ':like ["search_web"]', "is :like 'search_web', which is not a"),
    (':like ["search_docs"]', ':like ["get_stock_price"]', "is :like 'get_stock_price'"),
    (':like ["search_docs"]', ':like "search_docs"', ":like must be a vector of tool names"),
])
def test_malformed_tool_definition(tmp_path, old, new, message):
    root = _tool_suite(tmp_path, CASE)
    tools = (root / "tools.edn").read_text()
    assert old in tools
    (root / "tools.edn").write_text(tools.replace(old, new, 1))
    with pytest.raises(SuiteError, match=message):
        load_suite(root)


def test_coding_case_without_hidden_tests(tmp_path):
    root = copy_suite(CODING, tmp_path)
    (root / "http-echo" / "hidden" / "checks.py").unlink()
    with pytest.raises(SuiteError, match=r"http-echo: no hidden/checks\.py"):
        load_suite(root)


@pytest.mark.parametrize(("change", "message"), [
    (lambda case: (case / "hidden" / "checks.py").write_text(
        "async def test_one(sut):\n    pass\n"),
     r"http-echo/hidden/checks\.py: declares 1 test_\* functions; a coding case needs at least 8"),
    (lambda case: (case / "hidden" / "checks.py").write_text("def test_one(sut:\n"),
     r"http-echo/hidden/checks\.py: not valid Python: "),
    (lambda case: (case / "hidden" / "checks.py").write_bytes(b"\xff\xfe"),
     r"http-echo/hidden/checks\.py: not valid Python: "),
    (lambda case: shutil.rmtree(case / "reference" / "hardcoded"),
     r"http-echo: no reference/hardcoded/ solution"),
    (lambda case: (case / "reference" / "empty").mkdir(),
     r"http-echo: reference/empty/ holds no files"),
])
def test_malformed_coding_case_is_one_clear_line(tmp_path, change, message):
    root = copy_suite(CODING, tmp_path)
    change(root / "http-echo")
    with pytest.raises(SuiteError, match=message) as info:
        load_suite(root)
    assert "\n" not in str(info.value)


def test_a_solution_only_some_cases_have_is_not_played(tmp_path):
    root = copy_suite(CODING, tmp_path)
    (root / "http-echo" / "reference" / "extra").mkdir()
    (root / "http-echo" / "reference" / "extra" / "server.py").write_text("pass\n")
    suite = load_suite(root)
    assert suite.scripts == ["reference", "bad", "hardcoded"]
    with pytest.raises(SuiteError, match="plays scripted:reference or scripted:bad or "
                                         "scripted:hardcoded"):
        suite.check_model("scripted:extra")


def test_coding_case_id_is_checked_like_a_tool_case_id(tmp_path):
    root = copy_suite(CODING, tmp_path)
    case = root / "http-echo" / "case.edn"
    case.write_text(case.read_text().replace('"http-echo"', '"http echo"', 1))
    with pytest.raises(SuiteError, match=r"http-echo/case\.edn: id 'http echo' may use only"):
        load_suite(root)


def test_cli_exits_2_with_one_line(tmp_path, capsys):
    root = _tool_suite(tmp_path, CASE.replace(':b 2', ':c 2'))
    assert main(["bench", str(root), "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("agenttree: error: ")
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "scripted:wizard"], "plays scripted:reference or scripted:naive"),
    (["--model", "gopher:x"], "write provider:model"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--cases", "zzz*"], "no case of suite tool-calling matches"),
    (["--resume", "/nonexistent/run"], "not a bench report"),
    (["--model", "scripted:naive", "--model", "scripted:naive"], "'scripted:naive' given twice"),
    (["--model", "ollama:a/b", "--model", "ollama:a_b"], "would share case directories"),
    (["--retry-errors", "0"], "--retry-errors must be at least 1, got 0"),
    (["--max-infra-errors", "-1"], "--max-infra-errors must be 0 or more, got -1"),
])
def test_bad_cli_arguments(tmp_path, capsys, args, message):
    assert main(["bench", str(TOOL_CALLING), "--reports", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("name", ["tool_calling", "tool-calling"])
def test_built_in_suites_by_name(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", name, "--cases", "s-mul", "--reports", "reports", "--quiet"]) == 0
    (report,) = (tmp_path / "reports" / "tool-calling").iterdir()  # the suite's own name
    assert (report / "summary.json").is_file()


def test_the_coding_suite_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "coding", "--cases", "nothing-*"]) == 2
    assert "no case of suite coding matches --cases 'nothing-*'" in capsys.readouterr().err


def test_a_directory_given_wins_over_a_built_in_name(tmp_path, monkeypatch):
    suite = copy_suite(TOOL_CALLING, tmp_path)
    (suite / "suite.edn").write_text((suite / "suite.edn").read_text().replace(
        ':name "tool-calling"', ':name "my-copy"'))
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "tool_calling", "--cases", "s-mul", "--reports", "reports",
                 "--quiet"]) == 0
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["my-copy"]


def test_an_unknown_suite_name_names_the_built_in_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "toolcalling"]) == 2
    err = capsys.readouterr().err
    assert "toolcalling: not a suite (no suite.edn in it); the built-in suites are coding, " \
           "tool_calling" in err and err.count("\n") == 1
