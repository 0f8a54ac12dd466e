"""``--max-tool-calls N``: each case run's tool-call budget in place of the suite's, recorded
in the report and kept by a resume."""

import orjson
import pytest

from agenttree import events as ev
from agenttree.bench.runner import read_recorded, resume_options
from agenttree.cli import main
from agenttree.log import read_events

from .helpers import TOOL_CALLING, events


def _bench(tmp_path, *args):
    reports = tmp_path / "reports"
    code = main(["bench", str(TOOL_CALLING), "--cases", "t-add-mul", "--reports", str(reports),
                 "--quiet", *args])
    [report] = (reports / "tool-calling").iterdir()
    return code, report


def _limits(report):
    """The tool-call limits the case's agents were given (and charged against)."""
    [log] = (report / "cases").glob("*/events.jsonl")
    return {e.event.budget.get("tool_calls") for e in read_events(log)
            if isinstance(e.event, ev.AgentSpawned)}


@pytest.mark.parametrize("args,limit,status", [
    ((), 12, "pass"),                           # the suite's budget: both calls made
    (("--max-tool-calls", "1"), 1, "fail"),     # the second call is over the budget
    (("--max-tool-calls", "30"), 30, "pass"),
])
def test_max_tool_calls_replaces_the_case_budget(tmp_path, args, limit, status):
    code, report = _bench(tmp_path, *args)
    assert code == 0
    assert _limits(report) == {limit}
    [end] = [e for e in events(report) if e["type"] == "case/end"]
    assert end["status"] == status


def test_the_limit_is_recorded_and_a_resume_keeps_it(tmp_path, capsys):
    code, report = _bench(tmp_path, "--max-tool-calls", "1")
    assert code == 0
    recorded = read_recorded(report)
    assert recorded.start["max_tool_calls"] == 1
    assert resume_options(recorded, {}).max_tool_calls == 1
    capsys.readouterr()
    assert main(["bench", str(TOOL_CALLING), "--resume", str(report),
                 "--max-tool-calls", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-tool-calls 2 differs from the run" in err
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["totals"]["failed"] == 1


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_limit_below_one_is_one_line_and_exit_2(tmp_path, capsys, value):
    assert main(["bench", str(TOOL_CALLING), "--max-tool-calls", value,
                 "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"agenttree: error: --max-tool-calls must be at least 1, got {value}\n"
    assert not list(tmp_path.iterdir())  # nothing ran
