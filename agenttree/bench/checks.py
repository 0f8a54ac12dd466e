"""A coding case's hidden tests: read once, run on the host, and their CTRF-style report.

``hidden/checks.py`` defines ``test_*`` functions taking a :class:`Sut`. The file is read when
the suite loads (:class:`HiddenTests`): its text stays in the bench's memory, outside every
sandbox, hashed into the case's fingerprint, and the tests run from that copy, whatever happens
to the file afterwards. The test functions it declares (top-level ``def test_*``, found without
running it) are the tests expected; a case passes only when exactly that many ran and passed.

Inputs come from the run's seed at grading time: each test gets its own ``sut.rng``, a
:class:`random.Random` seeded from the run's seed, the case and the test's name, so a program
cannot have been written for the inputs it meets, and the same seed repeats them exactly.

An ``async def`` test runs on the bench's Trio loop (use httpx or trio-websocket), bounded by
:data:`TEST_TIMEOUT_S`. Plain ``def`` tests (Playwright's sync API) run one after another in one
worker thread, so they can share what the module's ``session(sut)`` context manager gives,
if it defines one: each then gets that as a second argument (a browser launched once for all
of them). A thread cannot be interrupted, so they bound their own waits (Playwright's
timeouts). A test passes when it returns, fails when it raises. All tests are must-pass.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import trio

from ..sandbox.base import ExecResult, Sandbox
from .report import write_json
from .suites import SuiteError

TEST_TIMEOUT_S = 30.0
MIN_TESTS = 8
"""The fewest tests a coding case may declare."""


@attrs.frozen(kw_only=True)
class Sut:
    """The system under test, as the hidden tests see it.

    ``rng`` draws this test's inputs (see the module docstring). ``run`` starts a command in the
    program's sandbox; ``python`` is the Python there (the container's own on docker).
    """

    port: int | None
    python: str
    box: Sandbox
    workspace: Path
    rng: random.Random = attrs.field(factory=random.Random)
    launch: Callable[[list[str]], list[str]] = list
    """Wraps a command's argv for the sandbox (bubblewrap on the local backend)."""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of a server case."""
        return f"http://127.0.0.1:{self.port}"

    async def run(self, *args: str, stdin: bytes | None = None,
                  timeout: float = 10.0) -> ExecResult:
        """Run ``python ARGS…`` in the workspace, in the program's sandbox."""
        return await self.box.exec(self.launch([self.python, *args]), stdin=stdin,
                                   timeout=timeout)


@attrs.frozen(kw_only=True)
class HiddenTests:
    """The copy of a case's ``hidden/checks.py`` taken when the suite loaded."""

    path: Path
    source: str
    digest: str
    names: tuple[str, ...]
    """The tests it declares, in order: the tests expected to run."""

    @classmethod
    def read(cls, path: Path) -> HiddenTests:
        """Read and check ``path`` (without running it).

        Raises:
            SuiteError: missing, not Python, or fewer than :data:`MIN_TESTS` tests.
        """
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=str(path))
        except OSError as exc:
            raise SuiteError(f"{path}: cannot read: {exc.strerror}") from None
        except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
            raise SuiteError(f"{path}: not valid Python: {str(exc).splitlines()[0]}") from None
        names = tuple(node.name for node in tree.body
                      if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                      and node.name.startswith("test_"))
        if len(names) < MIN_TESTS:
            raise SuiteError(f"{path}: declares {len(names)} test_* functions; a coding case "
                             f"needs at least {MIN_TESTS}")
        return cls(path=path, source=source, names=names,
                   digest=hashlib.sha256(source.encode()).hexdigest())

    def load(self) -> ModuleType:
        """A fresh module run from the copy (never from the file).

        Raises:
            SuiteError: the module does not import.
        """
        module = ModuleType(f"_hidden_{self.digest[:12]}")
        module.__file__ = str(self.path)
        try:
            exec(compile(self.source, str(self.path), "exec"), vars(module))
        except Exception as exc:
            raise SuiteError(f"{self.path}: does not import: {exc!r}") from None
        return module


@attrs.define
class TestReport:
    """Per-test results (name, status, duration), the number expected, and totals."""

    expected: int
    tests: list[dict[str, Any]] = attrs.Factory(list)
    reason: str = ""

    @property
    def total(self) -> int:
        """How many tests ran."""
        return len(self.tests)

    @property
    def passed(self) -> int:
        """How many passed."""
        return sum(t["status"] == "passed" for t in self.tests)

    @property
    def complete(self) -> bool:
        """Whether exactly the expected number of tests ran."""
        return self.total == self.expected

    @property
    def failed_names(self) -> tuple[str, ...]:
        """Names of the tests that did not pass."""
        return tuple(t["name"] for t in self.tests if t["status"] != "passed")

    @property
    def duration_s(self) -> float:
        """Seconds all tests took."""
        return round(sum(t["duration"] for t in self.tests) / 1000, 3)

    def write(self, path: Path, *, tool: str) -> None:
        """Write the report as CTRF JSON (``results.tool``, ``summary``, ``tests``); the
        summary's ``extra`` holds the number of tests expected."""
        summary = {"tests": self.total, "passed": self.passed,
                   "failed": sum(t["status"] == "failed" for t in self.tests),
                   "skipped": 0, "pending": 0, "other": 0,
                   "extra": {"expected": self.expected}}
        write_json(path, {"results": {"tool": {"name": tool}, "summary": summary,
                                      "tests": self.tests}})


def collect(module: ModuleType) -> list[tuple[str, Callable[..., Any]]]:
    """The ``test_*`` functions of a loaded module, in the order they are defined."""
    return [(n, f) for n, f in vars(module).items() if n.startswith("test_") and callable(f)]


def _result(name: str, started: float, error: str | None) -> dict[str, Any]:
    return {"name": name, "status": "passed" if error is None else "failed",
            "suite": "must-pass", "duration": round((time.monotonic() - started) * 1000, 3),
            **({"message": error} if error else {})}


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def _run_sync(tests: Sequence[tuple[str, Callable[..., Any]]], module: ModuleType,
              sut_for: Callable[[str], Sut]) -> list[dict[str, Any]]:
    """Plain ``def`` tests, in this (worker) thread, inside the module's ``session``."""
    session: Callable[[Sut], AbstractContextManager[Any]] | None = getattr(module, "session",
                                                                           None)
    results: list[dict[str, Any]] = []
    try:
        with session(sut_for("session")) if session is not None else nullcontext() as shared:
            for name, fn in tests:
                started = time.monotonic()
                args = (sut_for(name),) if session is None else (sut_for(name), shared)
                try:
                    fn(*args)
                except Exception as exc:
                    results.append(_result(name, started, _error(exc)))
                else:
                    results.append(_result(name, started, None))
    except Exception as exc:  # the session failed: the tests it did not reach fail with it
        done = {r["name"] for r in results}
        results += [_result(name, time.monotonic(), f"session: {_error(exc)}")
                    for name, _ in tests if name not in done]
    return results


async def run_checks(hidden: HiddenTests, sut: Sut | None, *, seed: str,
                     why: str = "") -> TestReport:
    """Run every test against ``sut``, each with inputs drawn from ``seed`` and its name;
    with no SUT (it did not start) each declared test fails with ``why``."""
    report = TestReport(expected=len(hidden.names), reason=why)
    if sut is None:
        report.tests += [_result(name, time.monotonic(), why) for name in hidden.names]
        return report

    def sut_for(name: str) -> Sut:
        return attrs.evolve(sut, rng=random.Random(f"{seed}/{name}"))

    module = hidden.load()
    tests = collect(module)
    order = {name: i for i, (name, _) in enumerate(tests)}
    sync = [(n, f) for n, f in tests if not inspect.iscoroutinefunction(f)]
    for name, fn in tests:
        if inspect.iscoroutinefunction(fn):
            started = time.monotonic()
            try:
                with trio.fail_after(TEST_TIMEOUT_S):
                    await fn(sut_for(name))
            except trio.TooSlowError:
                report.tests.append(_result(name, started,
                                            f"timed out after {TEST_TIMEOUT_S:g} s"))
            except Exception as exc:
                report.tests.append(_result(name, started, _error(exc)))
            else:
                report.tests.append(_result(name, started, None))
    if sync:
        report.tests += await trio.to_thread.run_sync(_run_sync, sync, module, sut_for)
    report.tests.sort(key=lambda t: order[t["name"]])
    return report
