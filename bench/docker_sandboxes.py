"""Docker sandboxes against a real engine: the docker backend beside the docker CLI by hand.

Figures, each beside the same operations typed as ``docker`` commands in the same run: a
container from start to healthy (the backend: image check, removal of leftovers, an internal
network, ``create``/``start``, the health check with ``docker exec``; by hand: ``network
create``, ``run -d``, ``exec true``), an ``exec`` round trip (the backend adds a local ``sh``
and a pid file in the container so a timeout can kill the command there), and teardown (the
backend saves the log and removes everything by label; by hand: ``rm -f`` and ``network rm``).
Without an engine or the image, one row says so and how to get them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import trio

from agenttree.sandbox import open_backend, parse_spec
from agenttree.sandbox.images import PYTHON_IMAGE as IMAGE
from agenttree.sandbox.images import is_current

SPEC = parse_spec(f'{{:name "bench" :containers [{{:name "box" :image "{IMAGE.name}" '
                  ':health {:cmd ["true"] :interval-ms 50 :retries 100}}]}')
_cases = itertools.count()


def missing() -> str | None:
    """Why the docker figures cannot be measured here (``None``: they can)."""
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "no docker engine answers `docker info` (as root: .ci/docker.sh starts one)"
    if not is_current(IMAGE):
        return f"no image {IMAGE.name} (as root: {IMAGE.command()})"
    return None


async def _docker(*args: str) -> None:
    await trio.run_process(["docker", *args], capture_stdout=True, capture_stderr=True)


async def _by_hand(n: int) -> tuple[float, float, float]:
    """Start to healthy, one exec, teardown: seconds, with the docker CLI."""
    name = f"at-bench-hand-{os.getpid()}-{next(_cases)}"
    t0 = time.perf_counter()
    await _docker("network", "create", "--internal", name)
    await _docker("run", "-d", "--init", "--name", name, "--network", name, IMAGE.name)
    await _docker("exec", name, "true")
    t1 = time.perf_counter()
    for _ in range(n):
        await _docker("exec", name, "true")
    t2 = time.perf_counter()
    await _docker("rm", "-f", "-v", name)
    await _docker("network", "rm", name)
    return t1 - t0, (t2 - t1) / n, time.perf_counter() - t2


async def _backend(n: int, run_dir: Path) -> tuple[float, float, float]:
    """The same with the docker backend."""
    backend = open_backend("docker", run_dir=run_dir)
    t0 = time.perf_counter()
    async with backend.open(SPEC, case=f"{os.getpid()}-{next(_cases)}") as env:
        t1 = time.perf_counter()
        box = env.sandbox()
        for _ in range(n):
            await box.exec(["true"])
        t2 = time.perf_counter()
    return t1 - t0, (t2 - t1) / n, time.perf_counter() - t2


def bench_docker(n: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md (or one saying why there are none)."""
    why = missing()
    if why is not None:
        return [("docker sandbox beside the docker CLI", f"not measured: {why}", "")]
    hand = [trio.run(_by_hand, n) for _ in range(runs)]
    ours = [trio.run(_backend, n, tmp / "docker") for _ in range(runs)]
    (h_start, h_exec, h_down), (o_start, o_exec, o_down) = (
        [statistics.median(r[i] for r in results) for i in range(3)] for results in (hand, ours))
    return [
        ("docker CLI by hand: network create + run -d + exec true (healthy)",
         f"{h_start * 1000:.0f} ms", "baseline"),
        ("docker sandbox: open to healthy (image check, leftovers removed, network, create, "
         "start, health check)", f"{o_start * 1000:.0f} ms ({o_start / h_start:.2f}x by hand)",
         "<= 2x by hand"),
        (f"docker CLI by hand: exec true, x{n}", f"{h_exec * 1000:.0f} ms each", "baseline"),
        (f"docker sandbox: exec(['true']), x{n}",
         f"{o_exec * 1000:.0f} ms each ({o_exec / h_exec:.2f}x by hand)", "<= 1.5x by hand"),
        ("docker CLI by hand: rm -f + network rm", f"{h_down * 1000:.0f} ms", "baseline"),
        ("docker sandbox: teardown (log saved, everything labelled removed)",
         f"{o_down * 1000:.0f} ms ({o_down / h_down:.2f}x by hand)", "<= 3x by hand"),
    ]
