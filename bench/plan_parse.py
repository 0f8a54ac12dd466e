"""Plan parsing: a machine-written 1.2 MB plan (11,111 tasks) read and validated.

The baseline is ``edn_format``'s PLY parser reading the same text (what every plan read cost
before agenttree's own reader); then agenttree's reader alone (the same values), and the whole
``parse_plan`` (reading, the structure and duplicate checks, validation into records). The
plan repeats one script in every task, which the reader and the validator each take once; the
last row is the same plan with every task's goal and call arguments its own.
"""

from __future__ import annotations

import itertools
import re
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


def own_values(text: str) -> str:
    """``text`` with every task's script call given its own argument and the task a goal."""
    count = itertools.count(1)
    return re.sub(r":script \[\{:calls \[\{:call :wait :args \{:timeout_s 3600\}\}\]\}\]",
                  lambda _: (f":script [{{:calls [{{:call :wait :args {{:timeout_s "
                             f"{3600 + (n := next(count))}}}}}]}}] :goal \"write part {n} of "
                             "the report, then check it\""), text)


def bench_plan_parse(runs: int, depth: int) -> list[tuple[str, str, str]]:
    text = plan_to_edn(cancel_plan(depth=depth, fanout=10))
    size = len(text.encode())
    tasks = text.count(":task/id")
    assert read_edn(Context("bench.edn", Locator(text)), text) == edn_format.loads(text)
    base = _rate(size, runs, lambda: edn_format.loads(text))
    reader = _rate(size, runs, lambda: read_edn(Context("bench.edn", Locator(text)), text))
    whole = _rate(size, runs, lambda: parse_plan(text, "bench.edn"))
    distinct = own_values(text)
    assert distinct.count(":goal") == tasks
    own = _rate(len(distinct.encode()), runs, lambda: parse_plan(distinct, "bench.edn"))
    return [
        (f"edn_format.loads of a {size / 1e6:.1f} MB plan ({tasks:,} tasks)",
         f"{base:.2f} MB/s", "baseline"),
        ("agenttree's EDN reader (the same values; edn_format for anything unusual)",
         f"{reader:.2f} MB/s ({reader / base:.1f}x edn_format)", ""),
        ("parse_plan: read, check and validate into records", f"{whole:.2f} MB/s "
         f"({size / 1e6 / whole:.2f} s for this plan; {whole / base:.1f}x edn_format alone)",
         ">= 5 MB/s"),
        (f"parse_plan, every task with its own goal and call arguments "
         f"({len(distinct.encode()) / 1e6:.1f} MB)", f"{own:.2f} MB/s", ""),
    ]
