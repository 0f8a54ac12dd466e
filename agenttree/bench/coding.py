"""The coding suite kind: the agent gets a spec and a seeded workspace; afterwards hidden,
black-box tests start its program through a sandbox backend and talk to it.

A case is a directory: ``case.edn`` (the spec the agent sees and how its program starts),
``seed/`` (copied into the workspace), ``hidden/checks.py`` (the tests, outside the workspace:
the file tools refuse paths that leave it, and under bubblewrap ``sh`` sees an empty suite
directory) and ``reference/good/`` + ``reference/bad/`` (what ``scripted:reference`` and
``scripted:bad`` write). Results per test go to ``ctrf.json`` in the case directory.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import attrs

from ..budget import Budget
from ..plan import Plan, Task, Tier, is_scripted
from ..sandbox.base import Limits, Sandbox, SandboxError, open_backend
from ..sandbox.spec import Container, ContainerSpec, Health, Mount
from .case import CaseRun, Outcome
from .checks import Sut, TestReport, run_checks
from .engine import run_tree
from .quality import diff_lines, lint
from .suites import (
    Case,
    Reader,
    SuiteError,
    check_keys,
    check_scripted,
    read_edn,
    require,
    spec_hash,
    valid_case_id,
)

SCRIPTS = {"reference": "good", "bad": "bad"}
"""``scripted:NAME`` models this suite plays, and the reference solution each writes."""
CHROMIUM = Path("/usr/bin/chromium")
TOOLS = ("read-file", "write-file", "list-dir", "sh")
CASE_BUDGET = Budget(tool_calls=80, tokens=600_000, wall_s=1200, retries=2)
NOTE = ("\n\nWork in the current directory. Python 3.11 is available as `python`, with the "
        "packages trio, trio-websocket and httpx. Hidden tests will start your program as "
        "described and check its behaviour from outside; paths and message shapes above are "
        "strict.")
SYSTEM_PROMPT = ("You are a software engineer with tools to read, write and list files and to run "
                 "shell commands in your workspace. Build and test what the user asks for. When "
                 "it is done, reply without a tool call, saying what you built.")
"""The coding suite's system prompt: plain, naming no tool the case does not offer."""
START_S = 30.0
IDLE = ("sleep", "86400")
"""What a case without a server runs, so its container is alive for the tests' commands (a
container backend can only exec in a running container)."""


@attrs.frozen(kw_only=True)
class CodingCase:
    """A parsed coding case."""

    goal: str
    cmd: tuple[str, ...] | None
    requires: tuple[str, ...]
    dir: Path


def _files(root: Path) -> dict[str, str]:
    """Every file under ``root`` (none if it is missing) by its relative path."""
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def free_port() -> int:
    """A port nothing listens on now (the SUT binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_requirement(requires: tuple[str, ...]) -> str | None:
    """Why this machine cannot run a case's tests, or ``None``."""
    if "chromium" in requires:
        if not CHROMIUM.exists():
            return f"needs Chromium at {CHROMIUM} (Debian package chromium)"
        if importlib.util.find_spec("playwright") is None:
            return "needs the playwright Python package (pip install playwright)"
    return None


class CodingSuite:
    """A loaded coding suite."""

    kind = "coding"

    def __init__(self, *, name: str, version: str, root: Path, cases: tuple[Case, ...],
                 parsed: dict[str, CodingCase]) -> None:
        self.name, self.version, self.root = name, version, root
        self.cases = cases
        self.parsed = parsed

    @classmethod
    def load(cls, root: Path, info: dict[str, Any], *, name: str, version: str,
             reader: Reader = read_edn) -> CodingSuite:
        """Read every case directory suite.edn lists."""
        where = str(root / "suite.edn")
        check_keys(where, info, {"name", "version", "kind", "cases"})
        cases, parsed = [], {}
        for entry in require(where, info, "cases", list, "a vector of case directories"):
            case, cc = cls._case(root / str(entry), reader)
            if case.id in parsed:
                raise SuiteError(f"{where}: case {case.id!r} listed twice")
            cases.append(case)
            parsed[case.id] = cc
        return cls(name=name, version=version, root=root, cases=tuple(cases), parsed=parsed)

    @staticmethod
    def _case(directory: Path, reader: Reader) -> tuple[Case, CodingCase]:
        where = str(directory / "case.edn")
        raw = reader(directory / "case.edn")
        check_keys(where, raw, {"id", "goal", "cmd", "requires"})
        case_id = valid_case_id(where, raw)
        goal = require(where, raw, "goal", str, "the spec the agent sees")
        cmd = raw.get("cmd")
        if cmd is not None and (not isinstance(cmd, list) or not cmd
                                or not all(isinstance(a, str) for a in cmd)):
            raise SuiteError(f"{where}: :cmd must be a vector of strings")
        requires = raw.get("requires", [])
        if not isinstance(requires, list) or not set(requires) <= {"chromium"}:
            raise SuiteError(f"{where}: :requires may list only :chromium")
        checks = directory / "hidden" / "checks.py"
        if not checks.is_file():
            raise SuiteError(f"{directory}: no hidden/checks.py")
        files = {}
        for kind in SCRIPTS.values():
            found = _files(directory / "reference" / kind)
            if not found:
                raise SuiteError(f"{directory}: reference/{kind}/ holds no files")
            files[kind] = found
        seed = _files(directory / "seed")
        digest = spec_hash({"case": raw, "seed": seed, "checks": checks.read_text(),
                            "reference": files})
        return (Case(id=case_id, spec=raw, hash=digest),
                CodingCase(goal=goal, cmd=tuple(cmd) if cmd else None,
                           requires=tuple(requires), dir=directory))

    def offered(self, case: Case, seed: int) -> tuple[str, ...]:
        """Coding cases offer the same built-in tools in every run (none drawn)."""
        return ()

    def check_model(self, model: str) -> None:
        """Scripted models must be one this suite can play."""
        check_scripted(self.name, model, SCRIPTS)

    def script(self, cc: CodingCase, model: str) -> list[dict[str, Any]]:
        """Write the good (or bad) reference solution file by file, then finish."""
        files = _files(cc.dir / "reference" / SCRIPTS[model.partition(":")[2]])
        turns: list[dict[str, Any]] = [{"calls": [{"tool": "list-dir", "args": {"path": "."}}]}]
        turns += [{"calls": [{"tool": "write-file", "args": {"path": p, "content": text}}]}
                  for p, text in files.items()]
        return [*turns, {"say": "done"}]

    def plan(self, case: Case, model: str) -> Plan:
        """One agent with the file tools and ``sh``, ``tool_choice: auto`` sent explicitly."""
        cc = self.parsed[case.id]
        return Plan(name=f"{self.name}-{case.id}",
                    tiers=(Tier(depth=0, models=(model,), tools=TOOLS, budget=CASE_BUDGET,
                                tool_choice="auto"),),
                    root=Task(id="root", goal=cc.goal + NOTE))

    async def run_case(self, run: CaseRun) -> Outcome:
        """Seed the workspace, run the agent, then the hidden tests and the quality checks."""
        cc = self.parsed[run.case.id]
        why = missing_requirement(cc.requires)
        if why is not None:
            return Outcome(status="skipped", score=0.0, reason=why)
        workspace = run.case_dir / "workspace"
        if (cc.dir / "seed").is_dir():
            shutil.copytree(cc.dir / "seed", workspace, dirs_exist_ok=True)
        else:
            workspace.mkdir(parents=True, exist_ok=True)
        script = self.script(cc, run.model) if is_scripted(run.model) else None
        tree = await run_tree(self.plan(run.case, run.model), run.case_dir, model=run.model,
                              seed=run.seed, script=script, limiters=run.limiters,
                              on_event=run.on_event, hidden=(self.root,),
                              system=SYSTEM_PROMPT, settings=run.settings,
                              max_tool_calls=run.max_tool_calls)
        if tree.infra:
            return Outcome(status="infra-error", score=0.0, reason="; ".join(tree.infra),
                           metrics=tree.usage)
        report = await self._hidden_tests(cc, run, workspace)
        async with run.limiters.subprocesses:
            quality = await lint(workspace)
        metrics = {**tree.usage, **quality,
                   "diff_lines": diff_lines(cc.dir / "seed", workspace),
                   "tests": report.total, "tests_passed": report.passed}
        report.write(run.case_dir / "ctrf.json", tool=f"agenttree-bench/{self.name}")
        hard = report.total > 0 and report.passed == report.total
        return Outcome(status="pass" if hard else "fail",
                       score=round(report.passed / report.total, 6) if report.total else 0.0,
                       metrics=metrics, failures=report.failed_names,
                       reason=report.reason, timing={"tests_s": report.duration_s})

    async def _hidden_tests(self, cc: CodingCase, run: CaseRun, workspace: Path) -> TestReport:
        port = free_port() if cc.cmd else None
        python = sys.executable
        container = Container(
            name="sut", workdir="/work", mounts=(Mount(host=".", container="/work"),),
            cmd=tuple(a.replace("{python}", python).replace("{port}", str(port))
                      for a in cc.cmd) if cc.cmd else IDLE,
            health=Health(cmd=(python, "-c", "import socket; socket.create_connection("
                                             f"('127.0.0.1', {port}), 1)"),
                          interval_ms=100, retries=int(START_S * 5), timeout_ms=2000)
            if port else None)
        spec = ContainerSpec(name=f"bench-{run.case.id}".lower().replace("_", "-")[:40],
                             sut="sut", containers=(container,))
        backend = open_backend(run.backend, run_dir=run.case_dir.resolve(),
                               project=workspace.resolve())
        checks = cc.dir / "hidden" / "checks.py"
        async with run.limiters.sandboxes:
            try:
                async with backend.open(spec, case=run.case_dir.name,
                                        limits=Limits(start_s=START_S)) as env:
                    box: Sandbox = env.sandbox()
                    sut = Sut(port=port, python=python, box=box, workspace=workspace)
                    return await run_checks(checks, sut)
            except SandboxError as exc:  # the agent's program never came up: its failure
                return await run_checks(checks, None, why=f"the program did not start: {exc}")
