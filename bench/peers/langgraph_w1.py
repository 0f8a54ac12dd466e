"""W1 on LangGraph: a root node fans out N worker nodes with the Send API; each worker awaits a
10 ms fake model call and returns one result, merged into the state by an ``operator.add``
reducer; run with ``ainvoke``, no checkpointer. One warm-up call (N=2) before timing.

    python langgraph_w1.py N        (with the peers' venv, from this directory)
"""

from __future__ import annotations

import asyncio
import operator
from time import perf_counter
from typing import Annotated, Any, TypedDict

from common import FAKE_MODEL_CALL_S, emit, peak_rss_mb, size
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send


class State(TypedDict):
    n: int
    results: Annotated[list, operator.add]


class WorkerIn(TypedDict):
    i: int


def root(state: State) -> dict[str, Any]:
    return {}


def fan_out(state: State) -> list[Send]:
    return [Send("worker", {"i": i}) for i in range(state["n"])]


async def worker(state: WorkerIn) -> dict[str, Any]:
    await asyncio.sleep(FAKE_MODEL_CALL_S)  # the fake model call
    return {"results": [state["i"]]}


def build() -> Any:
    graph = StateGraph(State)
    graph.add_node("root", root)
    graph.add_node("worker", worker)
    graph.add_edge(START, "root")
    graph.add_conditional_edges("root", fan_out, ["worker"])
    graph.add_edge("worker", END)
    return graph.compile()


async def w1(n: int) -> None:
    graph = build()
    config: dict[str, Any] = {"configurable": {"thread_id": "warmup"}, "recursion_limit": 10}
    await graph.ainvoke({"n": 2, "results": []}, config)  # warm-up: lazy imports etc.
    before = peak_rss_mb()
    config["configurable"]["thread_id"] = "bench"
    t0 = perf_counter()
    out = await asyncio.wait_for(graph.ainvoke({"n": n, "results": []}, config), 120)
    wall = perf_counter() - t0
    assert sorted(out["results"]) == list(range(n))
    emit(wall, peak_rss_mb() - before)


if __name__ == "__main__":
    asyncio.run(w1(size()))
