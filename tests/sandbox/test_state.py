"""Container events fold into RunState.containers (what the TUI and web view read)."""

from __future__ import annotations

from agenttree import events as ev
from agenttree.log import decode, encode
from agenttree.state import fold, state_to_json

EVENTS = [
    ev.ContainerStarted(case="c1", name="db", backend="docker", ref="at-x-db", image="redis:7"),
    ev.ContainerStarted(case="c1", name="sut", backend="docker", ref="at-x-sut"),
    ev.ContainerHealthy(case="c1", name="db", checks=4),
    ev.ContainerExited(case="c1", name="sut", exit_code=3, reason="exited"),
    ev.ContainerExited(case="c1", name="db", exit_code=-15, reason="stopped"),
    ev.ContainerLogs(case="c1", name="sut", path="r/containers/x/sut.log", bytes=12,
                     tail="boom\n"),
    ev.ContainerStarted(case="c2", name="db", backend="docker", ref="at-y-db"),
]


def entries():
    for seq, event in enumerate(EVENTS, 1):
        yield decode(encode(seq, 1000 + seq, "run", event)[:-1])  # through the wire format


def test_containers_fold_by_case_and_name() -> None:
    state = fold(entries())
    assert list(state.containers) == ["c1/db", "c1/sut", "c2/db"]
    assert state.containers["c1/db"] == {
        "case": "c1", "name": "db", "backend": "docker", "ref": "at-x-db", "image": "redis:7",
        "status": "stopped", "started_t": 1001, "checks": 4, "exit_code": -15,
        "finished_t": 1005}
    sut = state.containers["c1/sut"]
    assert (sut["status"], sut["exit_code"], sut["log"], sut["log_tail"]) == \
        ("exited", 3, "r/containers/x/sut.log", "boom\n")
    assert state.containers["c2/db"]["status"] == "started"


def test_state_json_includes_containers() -> None:
    data = state_to_json(fold(entries()))
    assert data["containers"]["c1/sut"]["exit_code"] == 3


def test_fold_until_shows_the_state_then() -> None:
    state = fold(entries(), until=3)
    assert state.containers["c1/db"]["status"] == "healthy"
    assert "exit_code" not in state.containers["c1/sut"]
