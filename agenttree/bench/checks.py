"""Running a coding case's hidden tests, and their CTRF-style report.

``hidden/checks.py`` defines ``test_*`` functions taking a :class:`Sut`. An ``async def`` test
runs on the bench's Trio loop (use httpx or trio-websocket); a plain ``def`` runs in a worker
thread (Playwright's sync API). A test passes when it returns, fails when it raises; each is
bounded by ``TEST_TIMEOUT_S``. All tests are must-pass.
"""

from __future__ import annotations

import importlib.util
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import trio

from ..sandbox.base import ExecResult, Sandbox
from .report import write_json
from .suites import SuiteError

TEST_TIMEOUT_S = 30.0
_modules: dict[Path, ModuleType] = {}


@attrs.frozen(kw_only=True)
class Sut:
    """The system under test, as the hidden tests see it."""

    port: int | None
    python: str
    box: Sandbox
    workspace: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of a server case."""
        return f"http://127.0.0.1:{self.port}"

    async def run(self, *args: str, stdin: bytes | None = None,
                  timeout: float = 10.0) -> ExecResult:
        """Run ``python ARGS…`` in the workspace (through the sandbox)."""
        return await self.box.exec([self.python, *args], stdin=stdin, timeout=timeout)


@attrs.define
class TestReport:
    """Per-test results (name, status, duration) and totals."""

    tests: list[dict[str, Any]] = attrs.Factory(list)
    reason: str = ""

    @property
    def total(self) -> int:
        """How many tests there are."""
        return len(self.tests)

    @property
    def passed(self) -> int:
        """How many passed."""
        return sum(t["status"] == "passed" for t in self.tests)

    @property
    def failed_names(self) -> tuple[str, ...]:
        """Names of the tests that did not pass."""
        return tuple(t["name"] for t in self.tests if t["status"] != "passed")

    @property
    def duration_s(self) -> float:
        """Seconds all tests took."""
        return round(sum(t["duration"] for t in self.tests) / 1000, 3)

    def write(self, path: Path, *, tool: str) -> None:
        """Write the report as CTRF JSON (``results.tool``, ``summary``, ``tests``)."""
        summary = {"tests": self.total, "passed": self.passed,
                   "failed": sum(t["status"] == "failed" for t in self.tests),
                   "skipped": 0, "pending": 0, "other": 0}
        write_json(path, {"results": {"tool": {"name": tool}, "summary": summary,
                                      "tests": self.tests}})


def load_checks(path: Path) -> list[tuple[str, Callable[..., Any]]]:
    """The ``test_*`` functions of a checks file, in the order they are defined."""
    module = _modules.get(path)
    if module is None:
        spec = importlib.util.spec_from_file_location(f"_hidden_{len(_modules)}", path)
        if spec is None or spec.loader is None:
            raise SuiteError(f"{path}: cannot load")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise SuiteError(f"{path}: does not import: {exc!r}") from None
        _modules[path] = module
    tests = [(n, f) for n, f in vars(module).items() if n.startswith("test_") and callable(f)]
    if not tests:
        raise SuiteError(f"{path}: defines no test_* function")
    return tests


async def _one(fn: Callable[..., Any], sut: Sut) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        if inspect.iscoroutinefunction(fn):
            await fn(sut)
        else:
            await trio.to_thread.run_sync(fn, sut)


async def run_checks(path: Path, sut: Sut | None, *, why: str = "") -> TestReport:
    """Run every test against ``sut``; with no SUT (it did not start) each fails with ``why``."""
    report = TestReport(reason=why)
    for name, fn in load_checks(path):
        started = time.monotonic()
        status, message = "failed", why
        if sut is not None:
            try:
                await _one(fn, sut)
                status, message = "passed", ""
            except trio.TooSlowError:
                message = f"timed out after {TEST_TIMEOUT_S:g} s"
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        report.tests.append({"name": name, "status": status, "suite": "must-pass",
                             "duration": round((time.monotonic() - started) * 1000, 3),
                             **({"message": message} if message else {})})
    return report
