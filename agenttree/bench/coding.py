"""The coding suite kind: the agent gets a spec and a seeded workspace; afterwards hidden,
black-box tests start its program and talk to it, with inputs drawn from the run's seed.

A case is a directory: ``case.edn`` (the spec the agent sees and how its program starts),
``seed/`` (copied into the workspace), ``hidden/checks.py`` (the tests: read once when the
suite loads and run from that copy, on the host; see :mod:`.checks`) and ``reference/NAME/``,
the solutions ``scripted:NAME`` writes: ``good`` (played by ``scripted:reference``) must pass
every hidden test, ``bad`` fail every one, and ``hardcoded``, written for fixed inputs, must
fail. The agent and its program run on a *stage* (:mod:`.stages`) sealed off from the suite,
the reports and the run's own files. Results per test go to ``ctrf.json`` in the case's
directory.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import attrs
import trio

from ..budget import Budget
from ..plan import Plan, Task, Tier, is_scripted
from ..sandbox.base import Limits, SandboxError, open_backend
from .case import CaseRun, Outcome
from .checks import HiddenTests, Sut, TestReport, run_checks
from .engine import run_tree
from .quality import diff_lines, lint
from .seal import can_seal
from .stages import Stage, sandbox_case, stage_for
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

SOLUTIONS = ("good", "bad", "hardcoded")
"""The ``reference/`` solutions every case has (see the module docstring)."""
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


def script_name(solution: str) -> str:
    """The ``scripted:NAME`` that plays ``reference/<solution>/``."""
    return "reference" if solution == "good" else solution


@attrs.frozen(kw_only=True)
class CodingCase:
    """A parsed coding case: its files as read when the suite loaded."""

    goal: str
    cmd: tuple[str, ...] | None
    requires: tuple[str, ...]
    dir: Path
    hidden: HiddenTests
    solutions: dict[str, dict[str, str]]
    """Each ``reference/`` solution's files (relative path to text), by ``scripted:`` name."""


def _files(root: Path) -> dict[str, str]:
    """Every file under ``root`` (none if it is missing) by its relative path."""
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


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
        shared = set.intersection(*(set(cc.solutions) for cc in parsed.values())) \
            if parsed else set()
        self.scripts = sorted(shared, key=lambda n: (n != "reference", n))
        """The ``scripted:NAME`` models it plays: solutions every case has."""

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
        hidden = HiddenTests.read(checks)
        references = directory / "reference"
        found = sorted(p.name for p in references.iterdir() if p.is_dir()) \
            if references.is_dir() else []
        for solution in SOLUTIONS:
            if solution not in found:
                raise SuiteError(f"{directory}: no reference/{solution}/ solution")
        solutions = {}
        for solution in found:
            files = _files(references / solution)
            if not files:
                raise SuiteError(f"{directory}: reference/{solution}/ holds no files")
            solutions[script_name(solution)] = files
        seed = _files(directory / "seed")
        digest = spec_hash({"case": raw, "seed": seed, "checks": hidden.digest,
                            "reference": solutions})
        return (Case(id=case_id, spec=raw, hash=digest),
                CodingCase(goal=goal, cmd=tuple(cmd) if cmd else None,
                           requires=tuple(requires), dir=directory, hidden=hidden,
                           solutions=solutions))

    def offered(self, case: Case, seed: int) -> tuple[str, ...]:
        """Coding cases offer the same built-in tools in every run (none drawn)."""
        return ()

    def check_model(self, model: str) -> None:
        """Scripted models must be one this suite can play."""
        check_scripted(self.name, model, self.scripts)

    def script(self, cc: CodingCase, model: str) -> list[dict[str, Any]]:
        """Write the solution ``scripted:NAME`` plays file by file, then finish."""
        files = cc.solutions[model.partition(":")[2]]
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
        """Seed the workspace, run the agent on its stage, then the hidden tests and the
        quality checks."""
        cc = self.parsed[run.case.id]
        why = missing_requirement(cc.requires)
        if why is not None:
            return Outcome(status="skipped", score=0.0, reason=why)
        if run.sealed and run.backend == "local" and not await trio.to_thread.run_sync(can_seal):
            return Outcome(status="infra-error", score=0.0,
                           reason="cannot seal the case: bubblewrap does not work here")
        workspace = run.case_dir / "workspace"
        if (cc.dir / "seed").is_dir():
            shutil.copytree(cc.dir / "seed", workspace, dirs_exist_ok=True)
        else:
            workspace.mkdir(parents=True, exist_ok=True)
        stage = stage_for(run.backend, workspace=workspace, run_dir=run.case_dir,
                          sealed=run.sealed, hidden=(self.root, run.case_dir.parent.parent))
        script = self.script(cc, run.model) if is_scripted(run.model) else None
        try:
            async with stage.agent() as place:
                tree = await run_tree(self.plan(run.case, run.model), run.case_dir,
                                      model=run.model, seed=run.seed, script=script,
                                      limiters=run.limiters, on_event=run.on_event,
                                      confinement=place.confinement, shell=place.shell,
                                      system=SYSTEM_PROMPT, settings=run.settings,
                                      max_tool_calls=run.max_tool_calls)
        except SandboxError as exc:
            return Outcome(status="infra-error", score=0.0,
                           reason=f"the agent's sandbox failed: {exc}")
        if tree.infra:
            return Outcome(status="infra-error", score=0.0, reason="; ".join(tree.infra),
                           metrics=tree.usage)
        report = await self._hidden_tests(cc, run, workspace, stage)
        async with run.limiters.subprocesses:
            quality = await lint(workspace)
        metrics = {**tree.usage, **quality,
                   "diff_lines": diff_lines(cc.dir / "seed", workspace),
                   "tests": report.total, "tests_passed": report.passed}
        report.write(run.case_dir / "ctrf.json", tool=f"agenttree-bench/{self.name}")
        return grade(report, metrics)

    async def _hidden_tests(self, cc: CodingCase, run: CaseRun, workspace: Path,
                            stage: Stage) -> TestReport:
        program = stage.program(run.case.id, cc.cmd)
        backend = open_backend(stage.backend, run_dir=run.case_dir.resolve(),
                               project=workspace.resolve())
        seed = f"{run.seed}/{run.case.id}"
        async with run.limiters.sandboxes:
            try:
                async with backend.open(program.spec, case=sandbox_case(run.case_dir),
                                        limits=Limits(start_s=START_S)) as env:
                    sut = Sut(port=program.port, python=program.python, box=env.sandbox(),
                              workspace=workspace, launch=program.launch)
                    return await run_checks(cc.hidden, sut, seed=seed)
            except SandboxError as exc:  # the agent's program never came up: its failure
                return await run_checks(cc.hidden, None, seed=seed,
                                        why=f"the program did not start: {exc}")


def grade(report: TestReport, metrics: dict[str, Any]) -> Outcome:
    """A case run's outcome from its hidden tests: it passes only when every expected test ran
    and passed; the score is the share of the expected tests that passed."""
    reason = report.reason
    if not report.complete:
        reason = f"ran {report.total} of {report.expected} expected hidden tests" + \
            (f"; {reason}" if reason else "")
    hard = report.complete and report.passed == report.expected
    return Outcome(status="pass" if hard else "fail",
                   score=round(min(report.passed, report.expected) / report.expected, 6),
                   metrics=metrics, failures=report.failed_names, reason=reason,
                   timing={"tests_s": report.duration_s})
