"""One owner per piece of run state (docs/architecture.md, "Who owns what"): nothing outside an
owner's module writes the fields it owns.

Private fields (``_name``) are covered by ruff's SLF001 in ``make lint``. This test covers the
public ones: it reads every module where run state lives and changes (the engine,
``runtime/``, and the tools agents run, ``tools/``, besides the meter) and reports each write to
an owned field through another object (``x.field = …``, ``x.field[k] = …``, ``x.field += …``,
``del x.field``, ``x.field.append(…)`` and the like) made outside the field's owner. A class
writing its own fields (``self.field``) is its own owner.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "agenttree"
SCANNED = ("runtime", "tools")

ENGINE = "runtime/engine.py"
AGENT = "runtime/agent.py"
STATE = "state.py"
"""The fold: it writes the records of ``RunState`` (an ``AgentView`` has a ``model``, a
``result`` … of its own)."""

OWNERS: dict[str, frozenset[str]] = {
    # the engine: its services, its fold of the log, its plan (the task book owns the rest)
    **dict.fromkeys(("book", "router", "locks", "emit", "interrupted", "root_up", "places",
                     "reconciler", "workspace", "http"), frozenset({ENGINE})),
    **dict.fromkeys(("plan", "plan_edn", "state"), frozenset({ENGINE, STATE})),
    # an agent: its life, its conversation, its children, its policy
    **dict.fromkeys(("meter", "policy", "model_name", "transcript", "cancel_reason", "nursery",
                     "scope", "ending", "uses_locks", "ended", "child_tasks", "turn",
                     "progressed", "prompt_logged", "source", "window", "inbox", "spec"),
                    frozenset({AGENT})),
    "watchdog_turns": frozenset({AGENT, "runtime/recording.py"}),  # (an agent's record has its own)
    **dict.fromkeys(("model", "result", "task"), frozenset({AGENT, STATE})),
    # a meter: its limits, spending and loans (the fold keeps an agent's figures as logged)
    **dict.fromkeys(("limits", "used", "lent"), frozenset({"budget.py", STATE})),
}

MUTATORS = frozenset({"append", "extend", "insert", "pop", "popitem", "popleft", "remove",
                      "clear", "update", "setdefault", "add", "discard", "sort", "reverse"})


def _written(node: ast.expr) -> tuple[ast.expr, str] | None:
    """(the object, the field) a write to ``node`` changes, if it is a field of an object."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.value, node.attr
    return None


def _writes(tree: ast.AST) -> list[tuple[int, ast.expr, str]]:
    found: list[tuple[int, ast.expr, str]] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in MUTATORS):
            targets = [node.func.value]
        for target in targets:
            for one in target.elts if isinstance(target, ast.Tuple) else [target]:
                written = _written(one)
                if written is not None:
                    found.append((node.lineno, *written))
    return sorted(found, key=lambda write: write[0])


def violations(source: str, module: str) -> list[str]:
    """Writes to owned fields in ``source`` (the module at ``module``, relative to the
    package) that its owner did not make."""
    out = []
    for line, obj, field in _writes(ast.parse(source)):
        owners = OWNERS.get(field)
        if owners is None or module in owners:
            continue
        if isinstance(obj, ast.Name) and obj.id in ("self", "cls"):
            continue  # a class's own field
        out.append(f"agenttree/{module}:{line}: writes {ast.unparse(obj)}.{field} "
                   f"(owned by {', '.join(sorted(owners))})")
    return out


def test_nothing_outside_an_owner_writes_its_fields() -> None:
    found = []
    for path in sorted(p for package in SCANNED for p in (PACKAGE / package).rglob("*.py")):
        found += violations(path.read_text(), path.relative_to(PACKAGE).as_posix())
    assert found == []


def test_the_check_finds_writes_from_outside() -> None:
    source = """
def restore(agent, engine, parent):
    agent.meter.lent["tokens"] += 5
    agent.running[child] = {}
    agent.ended[child] = done
    engine.book = None
    parent.child_tasks.update(tasks)
    del agent.spec
    agent.meter, x = None, 1

class Mine:
    def own(self):
        self.ended = {}
        self.used["tokens"] = 1
"""
    assert violations(source, "runtime/resume.py") == [
        "agenttree/runtime/resume.py:3: writes agent.meter.lent (owned by budget.py, state.py)",
        "agenttree/runtime/resume.py:5: writes agent.ended (owned by runtime/agent.py)",
        "agenttree/runtime/resume.py:6: writes engine.book (owned by runtime/engine.py)",
        "agenttree/runtime/resume.py:7: writes parent.child_tasks (owned by runtime/agent.py)",
        "agenttree/runtime/resume.py:8: writes agent.spec (owned by runtime/agent.py)",
        "agenttree/runtime/resume.py:9: writes agent.meter (owned by runtime/agent.py)",
    ]
    assert violations(source, "runtime/agent.py") == [
        "agenttree/runtime/agent.py:3: writes agent.meter.lent (owned by budget.py, state.py)",
        "agenttree/runtime/agent.py:6: writes engine.book (owned by runtime/engine.py)",
    ]
