"""Event records: every state change of a run, and the one place that knows the wire format.

Each event type is a frozen attrs record with a ``TYPE`` tag. On the wire (one JSON object per
line of ``events.jsonl``) an event is wrapped in an envelope::

    {"seq": 7, "t": 1764050000123, "run": "demo-2026…", "type": "agent/spawned", ...}

``seq`` counts 1, 2, 3… with no gaps; ``t`` is wall-clock epoch milliseconds. The log adds a CRC
(see :mod:`agenttree.log`). Field values are plain JSON data (str, int, float, bool, None, list,
dict), so one cattrs converter with per-class hooks (resolved once per class) does the work.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, NamedTuple

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_unstructure_fn, override

#: Version of the log format; a resume refuses logs written with another major version.
FORMAT = 1

Json = Any
"""A plain JSON value."""


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event record."""

    TYPE: ClassVar[str] = ""


REGISTRY: dict[str, type[Event]] = {}


def event(cls: type[Event]) -> type[Event]:
    """Class decorator: register an event type under its ``TYPE`` tag (and give it
    :func:`_slot_init`'s ``__init__``)."""
    if cls.TYPE in REGISTRY:
        raise TypeError(f"event type {cls.TYPE!r} registered twice")
    REGISTRY[cls.TYPE] = cls
    _slot_init(cls)
    return cls


_NO_VALUE = object()
"""A ``Factory`` field's default in :func:`_slot_init`'s signature: call the factory."""


@functools.cache
def _init_maker(shape: tuple[str, ...]) -> Any:
    """For fields of these kinds (``required``, ``default``, ``factory``), a function of each
    field's slot setter (and factory) returning an ``__init__`` over parameters ``a0, a1…``:
    compiled once per shape, not once per class (compiling is most of the cost at import)."""
    cells, params, body = [], [], []
    for i, kind in enumerate(shape):
        cells.append(f"set{i}")
        params.append(f"a{i}" if kind == "required" else f"a{i}=None")
        if kind == "factory":
            cells.append(f"factory{i}")
            body.append(f"    set{i}(self, factory{i}() if a{i} is NO_VALUE else a{i})")
        else:
            body.append(f"    set{i}(self, a{i})")
    # A closure over the setters, so they are not parameters a caller could pass.
    source = (f"def make({', '.join(cells)}):\n"
              f"  def __init__(self, *, {', '.join(params)}):\n"
              + "\n".join("  " + line for line in body)
              + "\n  return __init__\n")
    namespace: dict[str, Any] = {"NO_VALUE": _NO_VALUE}
    exec(source, namespace)
    return namespace["make"]


def _slot_init(cls: type[Event]) -> None:
    """Replace the ``__init__`` attrs wrote for a frozen slotted ``cls`` with one that stores
    each field through its slot's descriptor (``descriptor.__set__(self, value)``).

    attrs' frozen ``__init__`` stores through ``object.__setattr__`` (the class's own
    ``__setattr__`` refuses), which looks each name up on the class again; the descriptor's
    own setter skips that. Same parameters, defaults and factories, same frozen record (the
    class's ``__setattr__`` still refuses). It exists because an event is built for every
    state change the engine logs and for every record a reader decodes.
    """
    fields = attrs.fields(cls)
    if not fields:
        return
    shape, cells, defaults = [], [], {}
    for f in fields:
        cells.append(getattr(cls, f.name).__set__)
        if isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
            shape.append("factory")
            cells.append(f.default.factory)
            defaults[f.name] = _NO_VALUE
        elif f.default is attrs.NOTHING:
            shape.append("required")
        else:
            shape.append("default")
            defaults[f.name] = f.default
    init = _init_maker(tuple(shape))(*cells)
    # The shape's code with the class's names: its parameters are its only local variables.
    init.__code__ = init.__code__.replace(
        co_varnames=("self", *(f.name for f in fields)), co_name="__init__",
        co_qualname=f"{cls.__qualname__}.__init__")
    init.__kwdefaults__ = defaults
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[misc]


# --- run -----------------------------------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class RunStarted(Event):
    """The engine started (or resumed) a run."""

    TYPE: ClassVar[str] = "run/started"
    plan_name: str
    plan_path: str
    run_dir: str
    seed: int
    durability: str
    format: int = FORMAT
    version: str = ""
    pid: int = 0
    model: str | None = None
    """The ``--model`` override, if any (a resume uses it again)."""


@event
@attrs.frozen(kw_only=True)
class RunResumed(Event):
    """``agenttree resume`` took over a run whose engine died: what it found and restored.

    ``from_seq`` is the last event of the earlier engine; ``torn`` describes a torn last line
    that was dropped (empty if none); ``restarted`` are the agents that restart and replay
    their recorded results; ``finished`` counts tasks that stay finished; ``locks`` counts the
    lock holds restored (``last_token`` is where fencing tokens go on); ``killed`` are process
    groups left over from the dead engine that were killed.
    """

    TYPE: ClassVar[str] = "run/resumed"
    from_seq: int
    pid: int
    version: str
    format: int = FORMAT
    torn: str = ""
    restarted: list[str] = attrs.Factory(list)
    finished: int = 0
    locks: int = 0
    last_token: int = 0
    killed: list[int] = attrs.Factory(list)


@event
@attrs.frozen(kw_only=True)
class RunFinished(Event):
    """The run ended; ``status`` is the root task's status."""

    TYPE: ClassVar[str] = "run/finished"
    status: str
    reason: str = ""


PLAN_PART = 1 << 17
"""Characters of a plan's EDN per log line: a longer plan is logged in ``plan/part`` events
(even escaped to 6 bytes a character, a part fits the log's line bound)."""


@event
@attrs.frozen(kw_only=True)
class PlanPart(Event):
    """A piece of a plan too long for one line; the ``plan/loaded`` or ``plan/reconciled``
    right after the pieces joins them (its ``parts`` says how many)."""

    TYPE: ClassVar[str] = "plan/part"
    index: int
    text: str


@event
@attrs.frozen(kw_only=True)
class PlanLoaded(Event):
    """The plan the run follows, as EDN text (so a reader can rebuild it); a plan longer than
    :data:`PLAN_PART` comes in the ``parts`` ``plan/part`` events before this one, and ``edn``
    is empty."""

    TYPE: ClassVar[str] = "plan/loaded"
    name: str
    source: str
    tasks: int
    edn: str
    parts: int = 0
    base_dir: str = ""
    """The directory the plan's relative paths resolve against (its file's; empty in logs
    written before it was recorded: then the working directory)."""


# --- agents --------------------------------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class AgentSpawned(Event):
    """An agent started for a task, with the policy and budget it was given."""

    TYPE: ClassVar[str] = "agent/spawned"
    agent: str
    parent: str | None
    task: str
    goal: str
    depth: int
    model: str
    models: list[str]
    tools: list[str]
    budget: dict[str, Json]
    cwd: str = "."
    dynamic: bool = False
    attempt: int = 1
    spawn: dict[str, Json] | None = None
    """A task spawned at run time: the model, tools, system prompt and script its parent's
    ``spawn`` call gave it (``None`` for a plan task)."""


@event
@attrs.frozen(kw_only=True)
class AgentMessage(Event):
    """A message delivered from one agent (or ``human``) to another's inbox."""

    TYPE: ClassVar[str] = "agent/message"
    sender: str
    to: str
    kind: str  # "chat" | "state"
    text: str = ""
    data: dict[str, Json] | None = None
    bridge: str | None = None


@event
@attrs.frozen(kw_only=True)
class AgentState(Event):
    """An agent's activity changed, or it reported state facts (``report-state``)."""

    TYPE: ClassVar[str] = "agent/state"
    agent: str
    status: str
    detail: str = ""
    facts: dict[str, Json] | None = None


@event
@attrs.frozen(kw_only=True)
class AgentWatchdog(Event):
    """A waiting agent's watchdog found that none of its children made progress in
    ``quiet_s`` seconds; its model gets a turn with this digest. Each of ``children``:
    ``agent``, ``status``, ``idle_s`` (since its subtree last made progress), ``spent``
    (used per budget kind) and ``limits``."""

    TYPE: ClassVar[str] = "agent/watchdog"
    agent: str
    quiet_s: float
    children: list[dict[str, Json]]


@event
@attrs.frozen(kw_only=True)
class AgentFinished(Event):
    """An agent ended: ``done``, ``failed``, ``cancelled`` or ``budget-exhausted``."""

    TYPE: ClassVar[str] = "agent/finished"
    agent: str
    status: str
    reason: str = ""
    result: str = ""


@event
@attrs.frozen(kw_only=True)
class TaskStateChanged(Event):
    """A task's status changed (it ran to an end, was re-opened, or never started)."""

    TYPE: ClassVar[str] = "task/state-changed"
    task: str
    agent: str
    status: str
    prev: str = ""


# --- model and tools -----------------------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class ModelRequested(Event):
    """An agent asked its model for turn ``turn``, with ``messages`` messages of context;
    ``watchdog``: a turn its watchdog gave it (no child made progress);
    ``params`` are the request parameters sent besides model, messages and tools (settings,
    tool choice, streaming; never a key); ``tools`` names the tools whose schemas were sent;
    ``system_prompt`` is the agent's whole system prompt, on its first request (and on the
    first after a resume), else ``None``."""

    TYPE: ClassVar[str] = "model/requested"
    agent: str
    model: str
    turn: int
    messages: int
    watchdog: bool = False
    params: dict[str, Json] = attrs.Factory(dict)
    tools: list[str] = attrs.Factory(list)
    system_prompt: str | None = None


@event
@attrs.frozen(kw_only=True)
class ModelResponded(Event):
    """The model's complete answer: text and tool calls. Replay feeds these back."""

    TYPE: ClassVar[str] = "model/responded"
    agent: str
    model: str
    turn: int
    text: str
    calls: list[dict[str, Json]]
    usage: dict[str, Json]
    latency_ms: float = 0.0
    charged: dict[str, float] | None = None
    """What this answer was charged against the agent's budget, by kind (``tokens``, and
    ``cost`` when priced); ``None`` in logs from before charges rode on it."""


@event
@attrs.frozen(kw_only=True)
class ModelDelta(Event):
    """Streamed text as it arrives (coalesced: at most every 100 ms per agent)."""

    TYPE: ClassVar[str] = "model/delta"
    agent: str
    turn: int
    text: str


@event
@attrs.frozen(kw_only=True)
class ModelRetry(Event):
    """A model call failed in a way worth retrying (429, 5xx, transport); it is retried after
    ``delay_s``, and one ``retries`` is charged."""

    TYPE: ClassVar[str] = "model/retry"
    agent: str
    turn: int
    attempt: int
    reason: str
    delay_s: float


@event
@attrs.frozen(kw_only=True)
class ContextCompacted(Event):
    """Before turn ``turn``, the agent's transcript was compacted to fit its model's context
    window (``:context-tokens``): ``limit`` is the room for the prompt, ``tokens_before`` and
    ``tokens_after`` the estimates around it; ``outputs_shortened`` older tool outputs were cut
    to a pointer, ``turns_dropped`` older turns (``messages_dropped`` messages in all) were
    replaced by a summary."""

    TYPE: ClassVar[str] = "context/compacted"
    agent: str
    turn: int
    limit: int
    tokens_before: int
    tokens_after: int
    turns_dropped: int = 0
    messages_dropped: int = 0
    outputs_shortened: int = 0


@event
@attrs.frozen(kw_only=True)
class ToolRequested(Event):
    """An agent is about to run a tool call."""

    TYPE: ClassVar[str] = "tool/requested"
    agent: str
    call: str
    tool: str
    args: dict[str, Json]
    charged: dict[str, float] | None = None
    """What the call was charged (``{"tool_calls": 1}``); ``None`` when it was not (a call
    run again after a resume), and in logs from before charges rode on it."""


@event
@attrs.frozen(kw_only=True)
class ToolResult(Event):
    """The outcome of a tool call; ``ok`` false means ``output`` is the error shown to the model."""

    TYPE: ClassVar[str] = "tool/result"
    agent: str
    call: str
    tool: str
    ok: bool
    output: str
    duration_ms: float = 0.0
    replayed_uncertain: bool = False
    """Set on a resume when the call had been requested but its result was never logged: the
    tool ran again, and may have run twice."""


@event
@attrs.frozen(kw_only=True)
class ApprovalRequested(Event):
    """A call waits for a person: its tool matches the agent's ``:approve`` (docs/tools.md).
    Logged again for the same call when a resumed run takes the wait up again."""

    TYPE: ClassVar[str] = "tool/approval-requested"
    agent: str
    call: str
    tool: str
    args: dict[str, Json]
    timeout_s: float | None = None
    """Seconds until the call is denied unasked (``None``: it waits for as long as it takes)."""


@event
@attrs.frozen(kw_only=True)
class ToolApproved(Event):
    """A person approved a waiting call; the tool runs now."""

    TYPE: ClassVar[str] = "tool/approved"
    agent: str
    call: str
    tool: str


@event
@attrs.frozen(kw_only=True)
class ToolDenied(Event):
    """A waiting call was denied, by a person or by ``:approve-timeout-s`` (``reason``
    ``"timed out"``); the model gets a tool error with the reason."""

    TYPE: ClassVar[str] = "tool/denied"
    agent: str
    call: str
    tool: str
    reason: str = ""
    timed_out: bool = False


@event
@attrs.frozen(kw_only=True)
class AcceptanceResult(Event):
    """One acceptance command ran for an agent."""

    TYPE: ClassVar[str] = "acceptance/result"
    agent: str
    cmd: str
    ok: bool
    exit_code: int | None
    output: str
    attempt: int = 1


@event
@attrs.frozen(kw_only=True)
class ProcessStarted(Event):
    """A subprocess group started for an agent (so a resume can kill leftovers)."""

    TYPE: ClassVar[str] = "process/started"
    agent: str
    pgid: int
    cmd: str


# --- routing -------------------------------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class BridgeOpened(Event):
    """A lowest common ancestor let two agents in its subtree talk."""

    TYPE: ClassVar[str] = "bridge/opened"
    bridge: str
    by: str
    a: str
    b: str


@event
@attrs.frozen(kw_only=True)
class BridgeClosed(Event):
    """A bridge thread was closed by the agent that opened it."""

    TYPE: ClassVar[str] = "bridge/closed"
    bridge: str
    by: str


# --- budgets -------------------------------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class BudgetCharged(Event):
    """Something was spent against an agent's budget."""

    TYPE: ClassVar[str] = "budget/charged"
    agent: str
    kind: str
    amount: float
    used: float
    limit: float | None = None


@event
@attrs.frozen(kw_only=True)
class BudgetExhausted(Event):
    """An agent reached a limit; it ends ``budget-exhausted``."""

    TYPE: ClassVar[str] = "budget/exhausted"
    agent: str
    kind: str
    used: float
    limit: float


@event
@attrs.frozen(kw_only=True)
class BudgetGranted(Event):
    """An ancestor gave an agent more budget out of its own."""

    TYPE: ClassVar[str] = "budget/granted"
    agent: str
    by: str
    budget: dict[str, Json]


@event
@attrs.frozen(kw_only=True)
class BudgetRolledUp(Event):
    """A child ended and its spending was counted as its parent's: ``used`` is the parent's
    new total of each pooled kind (tool calls, tokens, cost), its own and its subtree's."""

    TYPE: ClassVar[str] = "budget/rolled-up"
    agent: str
    child: str
    used: dict[str, Json]


@event
@attrs.frozen(kw_only=True)
class PolicyGranted(Event):
    """A parent gave a running child models or tools out of its own policy."""

    TYPE: ClassVar[str] = "policy/granted"
    agent: str
    by: str
    models: list[str]
    tools: list[str]
    model: str


# --- locks -----------------------------------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class LockRequested(Event):
    """An agent asked for a lock."""

    TYPE: ClassVar[str] = "lock/requested"
    agent: str
    path: str
    mode: str
    ttl_ms: int
    wait_ms: int


@event
@attrs.frozen(kw_only=True)
class LockAcquired(Event):
    """A lock was granted, with its fencing token."""

    TYPE: ClassVar[str] = "lock/acquired"
    agent: str
    path: str
    mode: str
    token: int
    ttl_ms: int
    waited_ms: float = 0.0


@event
@attrs.frozen(kw_only=True)
class LockReleased(Event):
    """A lock was given back (``reason``: ``released``, or ``agent ended``)."""

    TYPE: ClassVar[str] = "lock/released"
    agent: str
    path: str
    token: int
    reason: str = "released"


@event
@attrs.frozen(kw_only=True)
class LockExpired(Event):
    """A hold was not renewed within its TTL; its token is dead and the path in lock-delay."""

    TYPE: ClassVar[str] = "lock/expired"
    agent: str
    path: str
    token: int
    delay_ms: int


@event
@attrs.frozen(kw_only=True)
class LockConflict(Event):
    """A request must wait: the path is held (or queued for) by others."""

    TYPE: ClassVar[str] = "lock/conflict"
    agent: str
    path: str
    mode: str
    holders: list[str]


@event
@attrs.frozen(kw_only=True)
class LockWaitEnded(Event):
    """A queued request left the queue without a grant (``timed out`` or ``withdrawn``)."""

    TYPE: ClassVar[str] = "lock/wait-ended"
    agent: str
    path: str
    reason: str


@event
@attrs.frozen(kw_only=True)
class LockDeadlock(Event):
    """Waiting would have closed a cycle; the youngest request (``agent``'s) was refused."""

    TYPE: ClassVar[str] = "lock/deadlock"
    agent: str
    path: str
    cycle: list[str]


@event
@attrs.frozen(kw_only=True)
class LockUnheldWrite(Event):
    """A write to a path another agent holds a lock on: by ``write-file`` in advisory mode
    (allowed, logged), or by a shell command (``via`` ``"sh"``: seen changed when it ended)."""

    TYPE: ClassVar[str] = "lock/unheld-write"
    agent: str
    path: str
    holders: list[str]
    via: str = "write-file"


@event
@attrs.frozen(kw_only=True)
class ConflictOpened(Event):
    """A conflict thread: requester, owners and their lowest common ancestor, who decides."""

    TYPE: ClassVar[str] = "conflict/opened"
    conflict: str
    path: str
    requester: str
    owners: list[str]
    lca: str
    kind: str = "wait"  # or "deadlock"


@event
@attrs.frozen(kw_only=True)
class ConflictResolved(Event):
    """How a conflict ended: ``sequence``, ``ask-release``, ``fork``, ``cancel``, or
    ``granted`` / ``timed out`` / ``withdrawn`` / ``refuse-youngest`` when it resolved itself."""

    TYPE: ClassVar[str] = "conflict/resolved"
    conflict: str
    decision: str
    by: str
    detail: str = ""


# --- containers (agenttree.sandbox) -----------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class ContainerStarted(Event):
    """A sandbox backend started container ``name`` for ``case`` (``ref``: pid, id or pod)."""

    TYPE: ClassVar[str] = "container/started"
    case: str
    name: str
    backend: str
    ref: str = ""
    image: str = ""


@event
@attrs.frozen(kw_only=True)
class ContainerHealthy(Event):
    """Its health check passed after ``checks`` tries."""

    TYPE: ClassVar[str] = "container/healthy"
    case: str
    name: str
    checks: int = 1


@event
@attrs.frozen(kw_only=True)
class ContainerExited(Event):
    """It ended: ``exited`` by itself, ``stopped`` at teardown, ``unhealthy``, or ``failed``
    to start. ``exit_code`` is ``None`` when unknown; negative for a signal."""

    TYPE: ClassVar[str] = "container/exited"
    case: str
    name: str
    exit_code: int | None = None
    reason: str = "exited"


@event
@attrs.frozen(kw_only=True)
class ContainerLogs(Event):
    """Where its output was saved (``path``, ``bytes`` long) and the last lines of it."""

    TYPE: ClassVar[str] = "container/logs"
    case: str
    name: str
    path: str
    bytes: int = 0
    tail: str = ""


# --- MCP servers ------------------------------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class McpStarted(Event):
    """An MCP server of the plan's ``:mcp`` is up (``attempt`` 2: restarted after it died).

    ``target`` is its command line or URL (header values are never logged); ``tools`` the
    tools agents may call, as plans name them (``calc/add``); ``left_out`` those it lists that
    are not offered, each with why (a name or schema a hosted API would refuse).
    """

    TYPE: ClassVar[str] = "mcp/started"
    server: str
    transport: str
    target: str
    tools: list[str]
    left_out: dict[str, str] = attrs.Factory(dict)
    attempt: int = 1


@event
@attrs.frozen(kw_only=True)
class McpFailed(Event):
    """An MCP server died or could not be reached (``reason``); ``restarting``: it is started
    once more, else its tools fail for the rest of the run."""

    TYPE: ClassVar[str] = "mcp/failed"
    server: str
    reason: str
    restarting: bool = False


# --- control ---------------------------------------------------------------------------------


@event
@attrs.frozen(kw_only=True)
class ControlApplied(Event):
    """A line of ``control.jsonl`` was carried out."""

    TYPE: ClassVar[str] = "control/applied"
    line: int
    cmd: str
    detail: str = ""


@event
@attrs.frozen(kw_only=True)
class ControlRejected(Event):
    """A line of ``control.jsonl`` was refused (malformed, unknown, or not applicable)."""

    TYPE: ClassVar[str] = "control/rejected"
    line: int
    cmd: str
    reason: str


@event
@attrs.frozen(kw_only=True)
class PlanReconciled(Event):
    """The running plan changed (``reconcile`` or ``reassign``): the diff, and the plan now.

    ``diff`` has ``added``, ``removed``, ``changed`` and ``moved`` task ids and ``settings``
    (whether tiers, models or other plan-wide keys changed); ``edn`` is the whole new plan (or
    empty, when it comes in ``parts`` ``plan/part`` events, as for ``plan/loaded``).
    """

    TYPE: ClassVar[str] = "plan/reconciled"
    by: str
    diff: dict[str, Json]
    edn: str
    parts: int = 0


def plan_events(cls: type[PlanLoaded | PlanReconciled], edn: str,
                **fields: Json) -> list[Event]:
    """The events that log plan ``edn``: a ``cls`` event carrying it, preceded by
    ``plan/part`` events when it is longer than :data:`PLAN_PART`."""
    if len(edn) <= PLAN_PART:
        return [cls(edn=edn, **fields)]
    parts: list[Event] = [PlanPart(index=i, text=edn[start:start + PLAN_PART])
                          for i, start in enumerate(range(0, len(edn), PLAN_PART))]
    return [*parts, cls(edn="", parts=len(parts), **fields)]


# --- the envelope and the converter ----------------------------------------------------------


class Entry(NamedTuple):
    """One line of the log: an event with its sequence number, time stamp and run id.

    A named tuple rather than an attrs record: one is made per event on every read and write.
    """

    seq: int
    t: int
    run: str
    event: Event


@attrs.frozen(kw_only=True)
class UnknownEvent(Event):
    """An event type this version does not know (kept, shown, otherwise ignored)."""

    TYPE: ClassVar[str] = "unknown"
    type: str
    fields: dict[str, Json]


converter = cattrs.Converter()
"""The one converter: events <-> plain dicts (without the envelope)."""



def _as_is(value: Any, *_: Any) -> Any:
    return value


def _structure(data: dict[str, Any], cls: type[Event]) -> Event:
    return cls(**data)


def _register(cls: type[Event]) -> None:
    # Field values are JSON already: pass them through (no per-element walk, no copies), and
    # build records with one keyword call (attrs applies the defaults). This is the hot path
    # of replay, so no per-field hook calls either way.
    fields = {f.name: override(unstruct_hook=_as_is) for f in attrs.fields(cls)}
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **fields))
    converter.register_structure_hook(cls, _structure)


for _cls in REGISTRY.values():
    _register(_cls)

_new_tuple = tuple.__new__


def _wire_encoder(cls: type[Event]) -> Any:
    """A function (seq, t, run, event) -> wire dict for ``cls``: the envelope and the fields,
    built in one dict display. It must agree with the converter's unstructuring (a test checks
    every type); it exists because this runs for every event written."""
    fields = "".join(f", {f.name!r}: ev.{f.name}" for f in attrs.fields(cls))
    source = (f"def encode(seq, t, run, ev):\n"
              f"    return {{'seq': seq, 't': t, 'run': run, 'type': {cls.TYPE!r}{fields}}}\n")
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    return namespace["encode"]


WIRE_ENCODERS = {cls: _wire_encoder(cls) for cls in REGISTRY.values()}
"""Each registered event class's wire-dict function (the log writer's hot path calls them
directly; :func:`to_wire` is the general entry point)."""


def to_wire(seq: int, t: int, run: str, ev: Event) -> dict[str, Json]:
    """The wire dict of an event: envelope keys first, then the event's fields."""
    encoder = WIRE_ENCODERS.get(type(ev))
    if encoder is not None:
        return encoder(seq, t, run, ev)
    if type(ev) is UnknownEvent:
        wire = {"seq": seq, "t": t, "run": run, "type": ev.type}
        wire.update(ev.fields)
        return wire
    raise TypeError(f"{type(ev).__name__} is not a registered event type")


class FieldView:
    """An event's fields read straight from its wire dict, for a fold only.

    A fold reads each event's fields once and drops the event, so building the typed record
    (attrs' ``__init__`` setting each slot) is most of the decoding it would pay. A view's
    ``__dict__`` *is* the wire dict (the envelope keys are in it too), so it costs one object.
    Each event class has a view class of the same name with the same ``TYPE``
    (:data:`FIELD_VIEWS`); a view is made only from a wire dict holding every field of its
    class and nothing else, so it reads exactly like the record ``from_wire`` would build.
    Never let one out of the fold: it is not the record (no equality, no hash, not frozen).
    """

    __slots__ = ("__dict__",)
    TYPE: ClassVar[str] = ""


def _field_view(cls: type[Event]) -> tuple[type[FieldView], tuple[str, ...]]:
    view = type(cls.__name__, (FieldView,), {"__slots__": (), "TYPE": cls.TYPE,
                                             "__qualname__": f"FieldView[{cls.__name__}]"})
    keys = ("seq", "t", "run", "type", *(f.name for f in attrs.fields(cls)))
    # The key strings as orjson.loads returns them (it reuses one string per key it has seen),
    # so comparing a decoded dict's keys with these mostly compares identities, not text.
    return view, tuple(orjson.loads(orjson.dumps(dict.fromkeys(keys))))


FIELD_VIEWS: dict[str, tuple[type[FieldView], tuple[str, ...]]] = {
    cls.TYPE: _field_view(cls) for cls in REGISTRY.values()}
"""For each registered type tag: its view class, and the keys, in order, of the wire dict (CRC
removed) the writer makes of it (:func:`to_wire`). A dict with exactly these keys reads like
the record; one with other keys or in another order is decoded the general way (comparing the
ordered keys is cheaper than comparing them as sets)."""

EVENT_KINDS: dict[str, tuple[type[FieldView], tuple[str, ...], type[Event]]] = {
    tag: (view, keys, REGISTRY[tag]) for tag, (view, keys) in FIELD_VIEWS.items()}
"""For each registered type tag: its view class and keys (:data:`FIELD_VIEWS`) and its record
class (a reader's decoding loop looks up all three at once)."""

VIEW_CLASSES: dict[type[Event], type[FieldView]] = {
    REGISTRY[tag]: view for tag, (view, _) in FIELD_VIEWS.items()}
"""Each registered event class's view class."""


def from_wire(wire: dict[str, Json]) -> Entry:
    """Build an :class:`Entry` from a wire dict (the CRC already checked and removed).

    Raises:
        KeyError, TypeError, ValueError: the dict is not a well-formed event.
    """
    seq, t, run, tag = wire.pop("seq"), wire.pop("t"), wire.pop("run"), wire.pop("type")
    cls = REGISTRY.get(tag)
    if cls is None:
        return Entry(seq, t, run, UnknownEvent(type=tag, fields=wire))
    # The converter's hook, inlined (replay's hot path); Entry(...) would call Python code.
    return _new_tuple(Entry, (seq, t, run, cls(**wire)))
