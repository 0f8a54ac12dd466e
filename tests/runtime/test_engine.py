"""The engine end to end, in process: the tree, budgets, cancellation, routing, the fold."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.live_state import fold_live
from agenttree.log import read_events
from agenttree.plan import parse_plan
from agenttree.runtime.engine import Engine
from agenttree.state import fold


def make_engine(tmp_path: Path, text: str, **kwargs) -> Engine:
    kwargs.setdefault("durability", "none")
    return Engine(parse_plan(text, source="test.edn"), tmp_path / "run", **kwargs)


def events_of(engine: Engine, cls: type[ev.Event]) -> list:
    return [e.event for e in read_events(engine.run_dir / "events.jsonl")
            if isinstance(e.event, cls)]


def when_written(engine: Engine, predicate) -> trio.Event:
    """An event set once the engine has written an event for which ``predicate`` is true."""
    seen = trio.Event()

    def hook(entry: ev.Entry) -> None:
        if predicate(entry.event):
            seen.set()

    engine.on_event = hook
    return seen


def finished(engine: Engine) -> dict[str, str]:
    return {e.agent: e.status for e in events_of(engine, ev.AgentFinished)}


TREE = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 100000 :retries 2}}]
 :task {:task/id "root" :script [{:say "go"}]
        :children [{:task/id "a" :script [{:call :message :args {:to "parent" :text "a here"}}
                                          {:say "a done"}]
                    :children [{:task/id "a1" :script [{:say "a1 done"}]}]}
                   {:task/id "b" :script [{:say "b done"}]}]}}
"""


async def test_tree_runs_and_the_fold_matches_the_engine(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, TREE)
    assert await engine.run() == "done"
    assert finished(engine) == {"root.a.a1": "done", "root.a": "done", "root.b": "done",
                                "root": "done"}
    replayed = fold(read_events(engine.run_dir / "events.jsonl"))
    assert fold_live(read_events(engine.run_dir / "events.jsonl")) == engine.state
    assert replayed.status == "done"
    assert replayed.agents["root"].children == ["root.a", "root.b"]
    # the child's message reached the parent's transcript (a conversation entry on both sides)
    assert any(m.get("text") == "a here" for m in replayed.agents["root"].conversation)
    spawned = [e.agent for e in events_of(engine, ev.AgentSpawned)]
    assert spawned[:3] == ["root", "root.a", "root.b"]  # siblings in plan order


async def test_seq_is_gapless_and_run_brackets_everything(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, TREE)
    await engine.run()
    entries = list(read_events(engine.run_dir / "events.jsonl"))
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert isinstance(entries[0].event, ev.RunStarted)
    assert isinstance(entries[-1].event, ev.RunFinished)
    assert (engine.run_dir / "plan.edn").exists() and (engine.run_dir / "control.jsonl").exists()


WAITERS = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 100000}}]
 :task {:task/id "root" :script [{:say "waiting for children"}]
        :children [{:task/id "mid" :script [{:call :wait :args {:timeout_s 100000}}]
                    :children [{:task/id "x" :script [{:call :wait :args {:timeout_s 100000}}]}
                               {:task/id "y" :script [{:call :wait :args {:timeout_s 100000}}]}]}
                   {:task/id "side" :script [{:call :wait :args {:timeout_s 50}}
                                             {:say "side done"}]}]}}
"""


async def test_cancelling_a_middle_node_ends_its_subtree_only(tmp_path: Path,
                                                              autojump_clock) -> None:
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        assert engine.cancel("root.mid", "test cancels mid")
        assert not engine.cancel("root.nobody", "no such agent")
    status = finished(engine)
    assert status["root.mid"] == "cancelled"
    assert status["root.mid.x"] == status["root.mid.y"] == "cancelled"
    assert status["root.side"] == "done"  # the sibling went on, and finished on its own
    assert status["root"] == "done"
    reasons = {e.agent: e.reason for e in events_of(engine, ev.AgentFinished)}
    assert reasons["root.mid"] == "test cancels mid"
    assert reasons["root.mid.x"] == "an ancestor was cancelled"


async def test_cancelling_the_root_logs_every_end_and_run_finished(tmp_path: Path,
                                                                   autojump_clock) -> None:
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        engine.cancel("root", "stop")
    assert set(finished(engine).values()) == {"cancelled"}
    assert len(finished(engine)) == 5
    assert events_of(engine, ev.RunFinished)[0].status == "cancelled"
    assert engine.router.inbox("root") is None and engine.agents == {}


async def test_cancel_during_cleanup_still_logs_and_leaks_nothing(tmp_path: Path,
                                                                  autojump_clock) -> None:
    engine = make_engine(tmp_path, WAITERS)
    with trio.CancelScope() as outer:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.run)
            await trio.testing.wait_all_tasks_blocked()
            engine.cancel("root.mid", "first")
            outer.cancel()  # and the whole run, while mid's subtree is cleaning up
    assert len(finished(engine)) == 5
    assert events_of(engine, ev.RunFinished)
    assert engine.agents == {}


def _budget_plan(budget: str, script: str, acceptance: str = "") -> str:
    return f"""
{{:tiers [{{:depth 0 :models ["scripted"] :budget {{:tool-calls 100 :tokens 100000 :retries 5}}}}]
 :task {{:task/id "root" :script [{{:say "ok"}}]
        :children [{{:task/id "c" :budget {budget} :script {script} {acceptance}}}]}}}}
"""


async def test_tool_call_budget_exhausts(tmp_path: Path) -> None:
    script = "[" + " ".join(['{:call :report-state :args {:facts {}}}'] * 5) + "]"
    engine = make_engine(tmp_path, _budget_plan("{:tool-calls 3}", script))
    await engine.run()
    assert finished(engine)["root.c"] == "budget-exhausted"
    exhausted = events_of(engine, ev.BudgetExhausted)
    assert [(e.agent, e.kind, e.used, e.limit) for e in exhausted] == [
        ("root.c", "tool_calls", 3, 3)]
    assert engine.state.agents["root.c"].tool_calls == 3


async def test_token_budget_exhausts(tmp_path: Path) -> None:
    script = "[{:call :report-state :args {:facts {}} :tokens 400} {:say \"x\" :tokens 400}]"
    engine = make_engine(tmp_path, _budget_plan("{:tokens 500}", script))
    await engine.run()
    assert finished(engine)["root.c"] == "budget-exhausted"
    assert [e.kind for e in events_of(engine, ev.BudgetExhausted)] == ["tokens"]


async def test_wall_time_budget_is_a_deadline(tmp_path: Path, autojump_clock) -> None:
    script = "[{:say \"slow\" :delay-ms 60000}]"
    engine = make_engine(tmp_path, _budget_plan("{:wall-s 5}", script))
    start = trio.current_time()
    await engine.run()
    assert finished(engine)["root.c"] == "budget-exhausted"
    assert [e.kind for e in events_of(engine, ev.BudgetExhausted)] == ["wall_s"]
    assert trio.current_time() - start == pytest.approx(5)


async def test_retries_budget_limits_acceptance_attempts(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, _budget_plan("{:retries 1}", "[{:say \"done\"}]",
                                                ':acceptance [(sh "exit 3")]'))
    await engine.run()
    assert finished(engine)["root.c"] == "failed"
    results = events_of(engine, ev.AcceptanceResult)
    assert [(r.attempt, r.exit_code) for r in results] == [(1, 3), (2, 3)]
    assert [e.kind for e in events_of(engine, ev.BudgetExhausted)] == ["retries"]


async def test_children_never_get_more_than_the_parent_has(tmp_path: Path) -> None:
    text = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 10}}]
 :task {:task/id "root" :script [{:say "ok"}]
        :children [{:task/id "greedy" :budget {:tool-calls 1000} :script [{:say "x"}]}
                   {:task/id "second" :script [{:say "y"}]}]}}
"""
    engine = make_engine(tmp_path, text)
    await engine.run()
    budgets = {e.agent: e.budget for e in events_of(engine, ev.AgentSpawned)}
    assert budgets["root"]["tool_calls"] == 10
    assert budgets["root.greedy"]["tool_calls"] == 10  # capped by what root had
    assert budgets["root.second"]["tool_calls"] == 0  # nothing was left


async def test_policy_narrows_models_and_tools(tmp_path: Path) -> None:
    text = """
{:models {:big ["big-1"] :small ["small-1"]}
 :tiers [{:depth 0 :models :big :tools :all}
         {:depth 1 :models :small :tools [:message :sh :finish :spawn]}]
 :task {:task/id "root" :script [{:say "ok"}]
        :children [{:task/id "c" :tools [:message :finish]
                    :script [{:call :sh :args {:cmd "echo nope"}}
                             {:call :spawn :args {:goal "g" :model "big-1"}}
                             {:say "done"}]}]}}
"""
    engine = make_engine(tmp_path, text, model_override="scripted")
    await engine.run()
    spawned = {e.agent: e for e in events_of(engine, ev.AgentSpawned)}
    assert spawned["root.c"].tools == ["finish", "message", "read-output"]  # read-output: own
    results = [r for r in events_of(engine, ev.ToolResult) if r.agent == "root.c"]
    assert not results[0].ok and "tool 'sh' is not available to root.c" in results[0].output
    assert not results[1].ok and "not available" in results[1].output


async def test_router_refusal_is_a_tool_error_not_a_crash(tmp_path: Path) -> None:
    text = """
{:task {:task/id "root" :script [{:say "ok"}]
        :children [{:task/id "a" :script [{:call :message :args {:to "root.b" :text "hi"}}
                                          {:say "a done"}]}
                   {:task/id "b" :script [{:say "b done"}]}]}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    refusal = next(r for r in events_of(engine, ev.ToolResult) if r.tool == "message")
    assert not refusal.ok
    assert "root.a may not message root.b" in refusal.output
    assert not [m for m in events_of(engine, ev.AgentMessage) if m.to == "root.b"]


async def test_bad_tool_arguments_go_back_to_the_model(tmp_path: Path) -> None:
    text = """
{:task {:task/id "root" :script [{:call :write-file :args {:pth "x"}}
                                 {:call :read-file :args {:path 42}}
                                 {:call :read-file :args {:path "../../etc/passwd"}}
                                 {:call :no-such-tool-but-valid :args {}}
                                 {:say "ok"}]}}
"""
    with pytest.raises(Exception, match="unknown tool :no-such-tool-but-valid"):
        make_engine(tmp_path, text)
    engine = make_engine(tmp_path, text.replace(
        "{:call :no-such-tool-but-valid :args {}}\n", ""))
    assert await engine.run() == "done"
    outputs = [r.output for r in events_of(engine, ev.ToolResult)]
    assert "unknown argument 'pth' (did you mean 'path'?)" in outputs[0]
    assert "argument 'path' must be string, got int" in outputs[1]
    assert "leaves the workspace" in outputs[2]


async def test_dynamic_spawn_gets_numbered_child_and_reports_back(tmp_path: Path) -> None:
    text = """
{:task {:task/id "root"
        :script [{:call :spawn :args {:goal "count to three" :budget {:tool_calls 5}
                                      :script [{:call :message
                                                :args {:to "parent" :text "1 2 3"}}
                                               {:say "counted"}]}}
                 {:say "spawned"}]}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    spawned = {e.agent: e for e in events_of(engine, ev.AgentSpawned)}
    assert spawned["root.1"].dynamic and spawned["root.1"].task == "root-1"
    assert spawned["root.1"].budget["tool_calls"] == 5
    assert finished(engine)["root.1"] == "done"
    assert any("1 2 3" in str(m.get("text")) for m in engine.state.agents["root"].conversation)


async def test_a_failing_child_does_not_take_the_tree_down(tmp_path: Path) -> None:
    text = """
{:task {:task/id "root" :script [{:say "ok"}]
        :children [{:task/id "bad" :model "scripted" :acceptance [(sh "exit 1")]
                    :budget {:retries 0} :script [{:say "hmm"}]}
                   {:task/id "good" :script [{:say "fine"}]}]}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    assert finished(engine)["root.bad"] == "failed"
    assert finished(engine)["root.good"] == "done"


async def test_unknown_model_fails_the_agent_clearly(tmp_path: Path) -> None:
    text = '{:models {:m ["gpt-x"]} :task {:task/id "root"}}'
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "failed"
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert "model 'gpt-x': write provider:model" in reason


UPGRADE = """
{:tiers [{:depth 0 :models ["scripted:big" "scripted:small"]}
         {:depth 1 :models ["scripted:small"]}]
 :task {:task/id "root"
        :script [{:call :wait :args {:timeout_s 50}}
                 {:call :grant :args {:agent "root.c" :model "scripted:huge"}}
                 {:call :grant :args {:agent "root.c" :model "scripted:big" :tools ["sh"]}}
                 {:say "granted"}]
        :children [{:task/id "c" :tools [:request-upgrade :wait :finish]
                    :script [{:call :request-upgrade
                              :args {:model "scripted:big" :reason "the task is hard"}}
                             {:call :wait :args {:timeout_s 50}}
                             {:say "done with the big model"}]}]}}
"""


async def test_upgrade_request_and_grant(tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, UPGRADE)
    assert await engine.run() == "done"
    asks = [m for m in events_of(engine, ev.AgentMessage)
            if m.kind == "upgrade" and m.sender == "root.c"]
    assert [(m.sender, m.to, m.data["model"]) for m in asks] == [
        ("root.c", "root", "scripted:big")]
    grants = [r for r in events_of(engine, ev.ToolResult) if r.tool == "grant"]
    assert not grants[0].ok and "does not have them itself" in grants[0].output
    assert grants[1].ok
    granted = events_of(engine, ev.PolicyGranted)
    assert [(g.agent, g.by, g.model, g.tools) for g in granted] == [
        ("root.c", "root", "scripted:big", ["sh"])]
    models = [r.model for r in events_of(engine, ev.ModelRequested) if r.agent == "root.c"]
    assert models[0] == "scripted:small" and models[-1] == "scripted:big"
    child = engine.state.agents["root.c"]
    assert child.model == "scripted:big" and "sh" in child.tools


async def test_a_refused_upgrade_reaches_the_child_with_the_reason(tmp_path: Path,
                                                                   autojump_clock) -> None:
    engine = make_engine(tmp_path, UPGRADE)
    assert await engine.run() == "done"
    refusals = [m for m in events_of(engine, ev.AgentMessage)
                if m.kind == "upgrade" and m.sender == "root"]
    assert [(m.to, m.data["reason"]) for m in refusals] == [
        ("root.c", "root does not have ['scripted:huge'] itself")]
    waits = [r.output for r in events_of(engine, ev.ToolResult)
             if r.agent == "root.c" and r.tool == "wait"]
    # The wait ends with the refusal first (the grant that followed may land in the same
    # drain or after it, as the scheduler has it), not after its 50 s.
    assert waits[0].splitlines()[0] == (
        "[upgrade from root] upgrade refused: root does not have ['scripted:huge'] itself")
    refused_at = next(e.seq for e in read_events(engine.run_dir / "events.jsonl")
                      if isinstance(e.event, ev.ToolResult) and e.event.tool == "grant")
    first_wait_end = next(e.seq for e in read_events(engine.run_dir / "events.jsonl")
                          if isinstance(e.event, ev.ToolResult) and e.event.agent == "root.c"
                          and e.event.tool == "wait")
    assert first_wait_end > refused_at
