"""``agenttree bench --settings FILE``: providers, model settings and prices for every case,
against the fake server that refuses what the hosted API refuses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson
import pytest
import trio

from agenttree.bench.runner import matches
from agenttree.bench.suites import load_suite
from agenttree.cli import main

from ..models.fake_openai import FakeOpenAI, completion
from .helpers import HANG_GUARD_S, TOOL_CALLING, events


def _settings(base: str) -> str:
    return f"""
{{:providers {{"{base}" {{:stream false}}}}
 :model-settings {{"test-model" {{:max-output-tokens 256 :temperature 0}}}}
 :prices {{"test-model" {{:prompt 1.0 :completion 2.0}}}}}}
"""


async def test_every_case_runs_with_the_settings_and_no_request_is_refused(
        tmp_path: Path) -> None:
    server = FakeOpenAI([completion("I would sort them: 11, 7, 3.", usage=(100, 20))])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        settings = tmp_path / "settings.edn"
        settings.write_text(_settings(base))
        with trio.fail_after(HANG_GUARD_S):
            result = await trio.run_process(
                [sys.executable, "-m", "agenttree", "bench", str(TOOL_CALLING), "--cases", "s-*",
                 "--model", f"openai:test-model@{base}", "--settings", str(settings),
                 "--reports", str(tmp_path / "reports"), "--quiet"],
                capture_stdout=True, capture_stderr=True, check=False,
                env={**os.environ, "COLUMNS": "200"})
        nursery.cancel_scope.cancel()
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    n = sum(matches(c.id, "s-*") for c in load_suite(TOOL_CALLING).cases)
    assert server.refused == [] and len(server.requests) >= n
    for request in server.requests:
        body = request["body"]
        assert (body["max_tokens"], body["temperature"]) == (256, 0.0)
        assert "stream" not in body and body["tool_choice"] == "auto"
    [report] = (tmp_path / "reports" / "tool-calling").iterdir()
    summary = orjson.loads((report / "summary.json").read_bytes())
    model = summary["models"][f"openai:test-model@{base}"]
    assert (model["infra_errors"], model["scored"]) == (0, n)  # a real, low, score
    assert model["totals"]["cost"] == pytest.approx(n * (100 * 1.0 + 20 * 2.0) / 1e6)
    assert events(report)[0]["settings"] == str(settings)


@pytest.mark.parametrize("text,message", [
    ('{:providers {"openai" {:stream "no"}}}', 's.edn:1: :stream: expected true or false'),
    ('{:model-settings {"m"\n {:temperature 9}}}', "s.edn:2: :temperature: must be at most 2"),
    ('{:prizes {}}', "s.edn:1: :prizes: unknown key in the settings (did you mean :prices?)"),
    ('[1]', "s.edn:1: settings must be a map"),
    ('{:prices', "s.edn:1: EDN syntax error"),
])
def test_a_bad_settings_file_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch,
                                                    text: str, message: str) -> None:
    (tmp_path / "s.edn").write_text(text)
    monkeypatch.chdir(tmp_path)
    code = main(["bench", str(TOOL_CALLING), "--settings", "s.edn", "--reports",
                 str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_a_resume_keeps_the_runs_settings(tmp_path: Path, capsys) -> None:
    settings = tmp_path / "s.edn"
    settings.write_text('{:prices {"reference" {:prompt 1.0 :completion 1.0}}}')
    reports = tmp_path / "reports"
    assert main(["bench", str(TOOL_CALLING), "--cases", "s-add", "--settings", str(settings),
                 "--reports", str(reports), "--quiet"]) == 0
    [report] = (reports / "tool-calling").iterdir()
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["models"]["scripted:reference"]["totals"]["cost"] > 0  # priced by the file
    other = tmp_path / "other.edn"
    other.write_text("{}")
    capsys.readouterr()
    assert main(["bench", str(TOOL_CALLING), "--resume", str(report), "--settings",
                 str(other)]) == 2
    assert "--settings" in capsys.readouterr().err
    assert main(["bench", str(TOOL_CALLING), "--resume", str(report), "--quiet"]) == 0
