"""Plan parsing: a machine-written 1.2 MB plan (11,111 tasks) read and validated.

The baseline is ``edn_format``'s PLY parser reading the same text (what every plan read cost
before agenttree's own reader); then agenttree's reader alone (the same values), and the whole
``parse_plan`` (reading, the structure and duplicate checks, validation into records).
"""

from __future__ import annotations

import statistics
import time

import edn_format

from agenttree.edn_source import Context, Locator, read_edn
from agenttree.plan import parse_plan, plan_to_edn

from .fanout import cancel_plan


def _rate(size: int, runs: int, fn) -> float:
    def once() -> float:
        t0 = time.perf_counter()
        fn()
        return size / 1e6 / (time.perf_counter() - t0)

    return statistics.median(once() for _ in range(runs))


def bench_plan_parse(runs: int, depth: int) -> list[tuple[str, str, str]]:
    text = plan_to_edn(cancel_plan(depth=depth, fanout=10))
    size = len(text.encode())
    tasks = text.count(":task/id")
    assert read_edn(Context("bench.edn", Locator(text)), text) == edn_format.loads(text)
    base = _rate(size, runs, lambda: edn_format.loads(text))
    reader = _rate(size, runs, lambda: read_edn(Context("bench.edn", Locator(text)), text))
    whole = _rate(size, runs, lambda: parse_plan(text, "bench.edn"))
    return [
        (f"edn_format.loads of a {size / 1e6:.1f} MB plan ({tasks:,} tasks)",
         f"{base:.2f} MB/s", "baseline"),
        ("agenttree's EDN reader (the same values; edn_format for anything unusual)",
         f"{reader:.2f} MB/s ({reader / base:.1f}x edn_format)", ""),
        ("parse_plan: read, check and validate into records", f"{whole:.2f} MB/s "
         f"({size / 1e6 / whole:.2f} s for this plan; {whole / base:.1f}x edn_format alone)",
         ">= 5 MB/s"),
    ]
