"""Plans: EDN files parsed into attrs records, validated with errors that say where.

A plan is a tree of tasks plus the policy around it (model classes, tiers by depth, who may
talk to whom). :func:`load_plan` / :func:`parse_plan` turn EDN into a :class:`Plan` or raise
:class:`~agenttree.errors.PlanError` naming file, line and key; :func:`plan_to_edn` writes a plan
back as EDN that parses to an equal plan. The format is documented in docs/plans.md.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
from edn_format import ImmutableDict, ImmutableList, Keyword, Symbol

from .budget import KINDS, WHOLE, Budget
from .collector import collector_paused
from .edn_source import (
    VECTOR,
    Context,
    Locator,
    by_name,
    check_keys,
    expect,
    get,
    keyed,
    kind_of,
    name_of,
    plain,
    read_edn,
    read_source,
)
from .errors import PlanError
from .mcp_config import McpServer, mcp_to_edn, parse_mcp
from .numbers import NumberError, check_json, check_number
from .tool_names import TOOL_NAMES, WIRE_SEPARATOR, all_of, covers, server_of, wire_name
from .toolbox import DeclaredTool, parse_toolbox, toolbox_to_edn

DEFAULT_BUDGET = Budget(tool_calls=200, wall_s=3600, tokens=2_000_000, retries=3)
"""The root's budget when the plan gives none."""
DEFAULT_WATCHDOG_S = 30.0
"""A waiting parent's watchdog interval when neither its task nor its tier sets ``:watchdog-s``."""
DEFAULT_TALK = frozenset({"parent", "children"})
TALK_VALUES = frozenset({"parent", "children", "siblings"})
SANDBOX_VALUES = ("auto", "required", "off")
LOCKS_VALUES = ("advisory", "required")
DEFAULT_CONCURRENCY = 8
"""Requests in flight at once to one provider, when its settings do not say."""
TOOL_CHOICES = ("auto", "required", "none")
"""``:tool-choice`` values besides a tool's name."""
MAX_TOKENS_PARAMS = ("max_tokens", "max_completion_tokens")
"""The names servers give the output-limit parameter (``:max-tokens-param``)."""
TASK_ID = re.compile(r"^[A-Za-z0-9_-]+$")
RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
"""A run's name becomes a directory name (``runs/<name>-<time>``): no ``/``, no leading dot."""
MAX_DEPTH = 50
"""Tasks nest at most this deep in a plan (the root is depth 0)."""
MAX_SYSTEM_PROMPT = 100_000
"""Characters of a ``:system-prompt`` at most (a tier's, a task's or one given to ``spawn``)."""
DEFAULT_MAX_OUTPUT_TOKENS = 4096
"""The output room kept free of the context window when ``:max-output-tokens`` is not set (at
most a quarter of ``:context-tokens``); also the ``max_tokens`` sent to Anthropic's API, which
requires one on every request."""
DEFAULT_TOOL_OUTPUT_CHARS = 16_000
"""Characters of one tool output put in the transcript when ``:tool-output-chars`` is not set
(at most ``:context-tokens`` characters, about a quarter of the window); the whole output is
kept in the run directory."""


def is_scripted(model: str) -> bool:
    """The offline scripted model may be used at any depth."""
    return model == "scripted" or model.startswith("scripted:")


@attrs.frozen(kw_only=True)
class LockPolicy:
    """How file locks behave in a run (plan key ``:locks``)."""

    mode: str = "advisory"  # "required": write-file refuses a path without a write lock
    ttl_ms: int = 30_000
    max_ttl_ms: int = 600_000
    wait_ms: int = 60_000
    delay_ms: int = 1_000
    escalate_after_ms: int = 10_000


_LOCK_KEYS = {"mode": str, "ttl-ms": int, "max-ttl-ms": int, "wait-ms": int, "delay-ms": int,
              "escalate-after-ms": int}


def _number(ctx: Context, value: Any, key: str, **rules: Any) -> Any:
    """``value`` checked by :func:`~agenttree.numbers.check_number` (``rules``), or the plan
    error at ``key``."""
    try:
        return check_number(value, **rules)
    except NumberError as exc:
        raise ctx.fail(str(exc), key) from None


@attrs.frozen(kw_only=True)
class Provider:
    """Settings for one provider (key ``:providers``), by provider name or base URL."""

    api_key_env: str | None = None
    concurrency: int | None = None
    """Requests in flight at once, for the whole tree (``None``: :data:`DEFAULT_CONCURRENCY`)."""
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    stream: bool = True
    max_tokens_param: str | None = None
    """How the output limit is sent: ``None`` means ``max_completion_tokens`` to OpenAI's own
    API (its newer models refuse ``max_tokens``) and ``max_tokens`` to any other server."""


@attrs.frozen(kw_only=True)
class ModelSettings:
    """Request parameters for one model (key ``:model-settings``); ``None`` is not sent.

    ``max_output_tokens`` is the only output limit ever sent: an agent's token budget is not
    one (hosted APIs refuse limits above a model's maximum).
    """

    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    context_tokens: int | None = None
    """The model's context window: the transcript is compacted to fit it (never sent)."""
    tool_output_chars: int | None = None
    """A tool output longer than this is cut in the transcript (never sent)."""

    @property
    def output_room(self) -> int:
        """Tokens of the context window kept free for the answer: ``max_output_tokens``, else
        :data:`DEFAULT_MAX_OUTPUT_TOKENS` but at most a quarter of the window."""
        if self.max_output_tokens is not None:
            return self.max_output_tokens
        window = self.context_tokens or 4 * DEFAULT_MAX_OUTPUT_TOKENS
        return min(DEFAULT_MAX_OUTPUT_TOKENS, window // 4)

    @property
    def prompt_limit(self) -> int | None:
        """Tokens a request's prompt may take (``None``: no window is set)."""
        if self.context_tokens is None:
            return None
        return self.context_tokens - self.output_room

    @property
    def output_cap(self) -> int:
        """Characters of one tool output the transcript takes (:data:`DEFAULT_TOOL_OUTPUT_CHARS`
        unless set; never more than ``context_tokens`` characters, about a quarter of it)."""
        if self.tool_output_chars is not None:
            return self.tool_output_chars
        return min(DEFAULT_TOOL_OUTPUT_CHARS, self.context_tokens or DEFAULT_TOOL_OUTPUT_CHARS)

    def updated(self, other: ModelSettings | None) -> ModelSettings:
        """These settings with the values ``other`` gives in their place."""
        if other is None:
            return self
        return attrs.evolve(self, **{k: v for k, v in attrs.asdict(other).items()
                                     if v is not None})


@attrs.frozen(kw_only=True)
class Price:
    """Dollars per million prompt and completion tokens (key ``:prices``)."""

    prompt: float = 0.0
    completion: float = 0.0

    def dollars(self, prompt: float, completion: float) -> float:
        """What ``prompt`` and ``completion`` tokens cost at this price."""
        return (prompt * self.prompt + completion * self.completion) / 1_000_000


_PROVIDER_KEYS = {"api-key-env": str, "concurrency": int, "requests-per-minute": int,
                  "tokens-per-minute": int, "stream": bool, "max-tokens-param": str}


@attrs.frozen(kw_only=True)
class Acceptance:
    """One acceptance command, run by ``/bin/sh -c`` in the task's working directory."""

    cmd: str
    timeout_s: float = 600.0
    line: int | None = attrs.field(default=None, eq=False)


@attrs.frozen(kw_only=True)
class Task:
    """A node of the plan: what to do, where, how it is checked, and its children."""

    id: str
    goal: str = ""
    cwd: str = "."
    acceptance: tuple[Acceptance, ...] = ()
    children: tuple[Task, ...] = ()
    model: str | None = None
    budget: Budget | None = None
    tools: tuple[str, ...] | None = None
    script: tuple[dict[str, Any], ...] | None = None
    watchdog_s: float | None = None
    """How often the agent's model hears of children that made no progress (default: its
    tier's, else :data:`DEFAULT_WATCHDOG_S`)."""
    model_settings: dict[str, ModelSettings] = attrs.Factory(dict)
    tool_choice: str | None = None
    system_prompt: str | None = None
    """Instructions added to the system prompt of this task's agent and of every agent below
    it (see :mod:`agenttree.prompt`)."""
    approve: tuple[str, ...] = ()
    """Tool-name patterns whose calls wait for a person, here and below (docs/tools.md)."""
    approve_timeout_s: float | None = None
    """How long such a call waits before it is denied (default: its tier's, else for ever)."""
    line: int | None = attrs.field(default=None, eq=False)


@attrs.frozen(kw_only=True)
class Tier:
    """Policy for agents at ``depth`` (and deeper, until the next tier).

    ``models`` is the allowed set, default first; ``tools`` ``None`` means every tool.
    ``tool_choice`` (``auto``, ``required``, ``none`` or a tool's name; ``None``: the server's
    default) and ``model_settings`` apply to its agents unless their task says otherwise;
    ``system_prompt`` is added to theirs (and so reaches every agent below them).
    """

    depth: int
    models: tuple[str, ...]
    tools: tuple[str, ...] | None = None
    budget: Budget | None = None
    watchdog_s: float | None = None
    model_settings: dict[str, ModelSettings] = attrs.Factory(dict)
    tool_choice: str | None = None
    system_prompt: str | None = None
    approve: tuple[str, ...] = ()
    approve_timeout_s: float | None = None


@attrs.frozen(kw_only=True)
class Plan:
    """A validated plan."""

    name: str
    models: dict[str, tuple[str, ...]] = attrs.Factory(dict)
    tiers: tuple[Tier, ...]
    talk: frozenset[str] = DEFAULT_TALK
    sandbox: str = "auto"
    locks: LockPolicy = LockPolicy()
    providers: dict[str, Provider] = attrs.Factory(dict)
    prices: dict[str, Price] = attrs.Factory(dict)
    model_settings: dict[str, ModelSettings] = attrs.Factory(dict)
    toolbox: dict[str, DeclaredTool] = attrs.Factory(dict)
    """The tools the plan declares besides the built-ins (docs/tools.md)."""
    mcp: dict[str, McpServer] = attrs.Factory(dict)
    """The MCP servers whose tools its agents may use (docs/tools.md)."""
    root: Task
    source: str = attrs.field(default="<plan>", eq=False)
    base_dir: Path = attrs.field(factory=Path.cwd, eq=False)
    """The directory the plan's relative paths (``:python`` modules, ``:command``, ``:cwd``)
    resolve against: the plan file's (absolute; recorded in ``plan/loaded``, so a resume
    or reconcile finds them from any working directory)."""

    @property
    def tool_names(self) -> frozenset[str]:
        """Every tool a policy may name: the built-ins, the plan's own, and ``server/*`` for
        each MCP server (its tools are known once it runs)."""
        return TOOL_NAMES | frozenset(self.toolbox) | {all_of(s) for s in self.mcp}

    def watchdog_s(self, task: Task, depth: int) -> float:
        """A task's watchdog interval: its own ``:watchdog-s``, else its tier's, else 30 s."""
        if task.watchdog_s is not None:
            return task.watchdog_s
        tier = self.tier_for(depth).watchdog_s
        return DEFAULT_WATCHDOG_S if tier is None else tier

    def approve_timeout_s(self, task: Task, depth: int) -> float | None:
        """How long a call of ``task``'s agent waits for a person before it is denied: the
        task's ``:approve-timeout-s``, else its tier's; ``None``: for as long as it takes."""
        if task.approve_timeout_s is not None:
            return task.approve_timeout_s
        return self.tier_for(depth).approve_timeout_s

    def tier_for(self, depth: int) -> Tier:
        """The tier with the greatest ``depth`` not above ``depth``."""
        found = self.tiers[0]
        for tier in self.tiers:
            if tier.depth <= depth:
                found = tier
        return found

    def provider(self, base_url: str | None, name: str) -> Provider:
        """Settings for a provider: by base URL, else by provider name, else defaults."""
        return provider_for(self.providers, base_url, name)

    def walk(self) -> Iterator[tuple[Task, Task | None, int]]:
        """Every task with its parent and depth, pre-order."""
        stack: list[tuple[Task, Task | None, int]] = [(self.root, None, 0)]
        while stack:
            task, parent, depth = stack.pop()
            yield task, parent, depth
            stack.extend((c, task, depth + 1) for c in reversed(task.children))



def provider_for(providers: Mapping[str, Provider], base_url: str | None, name: str) -> Provider:
    """``providers``' entry for a base URL, else for a provider name, else the defaults."""
    return providers.get(base_url or "") or providers.get(name) or Provider()


@attrs.frozen(kw_only=True)
class Settings:
    """Provider, model and price settings kept apart from a plan: ``agenttree bench --settings
    FILE`` applies them to every case (see :func:`load_settings`)."""

    providers: dict[str, Provider] = attrs.Factory(dict)
    model_settings: dict[str, ModelSettings] = attrs.Factory(dict)
    prices: dict[str, Price] = attrs.Factory(dict)

    def provider(self, base_url: str | None, name: str) -> Provider:
        """Settings for a provider: by base URL, else by provider name, else defaults."""
        return provider_for(self.providers, base_url, name)

    def applied_to(self, plan: Plan) -> Plan:
        """``plan`` with these entries added (in place of the plan's own for the same key)."""
        return attrs.evolve(plan, providers={**plan.providers, **self.providers},
                            model_settings={**plan.model_settings, **self.model_settings},
                            prices={**plan.prices, **self.prices})


# --- locating things in the source ----------------------------------------------------------


_TASK_ID_DECL = re.compile(r':task/id[^\S\n]+(?:"([^"\\\n]*)"|:([\w-]+)(?![\w/.-]))')
"""A ``:task/id`` declaration within one line, in the lines joined by ``\\n`` (inside a line,
the whitespace ``\\s`` matches is all but the line breaks ``splitlines`` cut at)."""


@attrs.define
class _PlanContext(Context):
    """A plan's parsing context: also the tool names the plan may use (the built-ins and its
    ``:toolbox``'s, known once that is read)."""

    tools: frozenset[str] = TOOL_NAMES
    servers: frozenset[str] = frozenset()
    """The plan's MCP servers: ``:server/tool`` and ``:server/*`` name their tools."""
    checked: dict[tuple[str, int], tuple[Any, Any]] = attrs.Factory(dict)
    """A task option's field by its key and the value's identity (with the value, so the
    identity stays its own): see :func:`_option`."""


def _known_tools(ctx: Context) -> frozenset[str]:
    return ctx.tools if isinstance(ctx, _PlanContext) else TOOL_NAMES


MCP_TOOL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""An MCP tool's name as plans may use it (on the wire ``server__tool``, at most 64 long)."""


def _is_tool(ctx: Context, name: str, *, every: bool) -> bool:
    """Whether ``name`` is a tool the plan may name: a built-in, a ``:toolbox`` tool, or one of
    an MCP server's (``server/*`` too, if ``every``)."""
    if name in _known_tools(ctx):
        return True
    server = server_of(name)
    if server is None or not isinstance(ctx, _PlanContext) or server not in ctx.servers:
        return False
    tool = name[len(server) + 1:]
    if tool == "*":
        return every
    return bool(MCP_TOOL.match(tool)) and len(wire_name(name)) <= 64


def _unknown_tool(ctx: Context, name: str, key: str) -> PlanError:
    server = server_of(name)
    if server is not None and isinstance(ctx, _PlanContext) and server in ctx.servers:
        return ctx.fail(f":{name} cannot name a tool of MCP server :{server}: use "
                        f":{server}/TOOL (letters, digits, - and _; at most 64 with the "
                        "server's name)" + (f", or :{server}/* in :tools" if key != "tools"
                                             else ""), key)
    if server is not None:
        known = ", ".join(f":{s}" for s in sorted(getattr(ctx, "servers", ()))) or "none"
        return ctx.fail(f"unknown tool :{name}: no MCP server :{server} in :mcp "
                        f"(declared: {known})", key)
    near = difflib.get_close_matches(name, sorted(_known_tools(ctx)), n=1)
    hint = f" (did you mean :{near[0]}?)" if near else ""
    return ctx.fail(f"unknown tool :{name}{hint}", key)


class _PlanLocator(Locator):
    """A :class:`~agenttree.edn_source.Locator` that also finds tasks by id."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._task_lines: dict[str, int] | None = None

    def task_line(self, task_id: str) -> int | None:
        """The first line declaring ``:task/id`` ``task_id`` (one scan for all ids: a plan of
        10,000 tasks is located in linear time)."""
        if self._task_lines is None:
            self._task_lines = {}
            # The lines joined by "\n", the only line break left in them: one search of the
            # whole text, each declaration's line counted from the one before.
            joined = "\n".join(self.lines)
            number, counted = 1, 0
            for match in _TASK_ID_DECL.finditer(joined):
                number += joined.count("\n", counted, match.start())
                counted = match.start()
                self._task_lines.setdefault(match.group(1) or match.group(2), number)
        return self._task_lines.get(task_id)


# --- parsing --------------------------------------------------------------------------------


_BUDGET_KEYS = {kind.replace("_", "-") for kind in KINDS}


def _budget(ctx: Context, raw: Any, key: str = "budget") -> Budget:
    expect(ctx, raw, Mapping, "a map like {:tool-calls 20 :tokens 50000}", key)
    check_keys(ctx, raw, _BUDGET_KEYS, ":budget")
    values: dict[str, Any] = {}
    for k, v in raw.items():
        name = name_of(k)
        kind = name.replace("-", "_")
        values[kind] = _number(ctx, v, name, whole=kind in WHOLE)
    return Budget(**values)


def _cwd(ctx: Context, raw: Any) -> str:
    expect(ctx, raw, str, "a string (a directory inside the workspace)", "cwd")
    if "\x00" in raw:
        raise ctx.fail("contains a NUL byte", "cwd")
    if raw.startswith("/"):
        raise ctx.fail(f'"{raw}" is absolute; :cwd is relative to the workspace', "cwd")
    norm = posixpath.normpath(raw) if raw else "."
    if norm == ".." or norm.startswith("../"):
        raise ctx.fail(f'"{raw}" leaves the workspace', "cwd")
    return norm


def _acceptance(ctx: Context, raw: Any) -> tuple[Acceptance, ...]:
    expect(ctx, raw, VECTOR, 'a vector of (sh "command") forms', "acceptance")
    if not raw:
        return ()
    line = ctx.locate.key_line("acceptance", ctx.anchor)
    out = []
    for item in raw:
        if isinstance(item, tuple) and len(item) == 2 and item[0] == Symbol("sh") \
                and isinstance(item[1], str):
            out.append(Acceptance(cmd=item[1], line=line))
        elif isinstance(item, Mapping):
            check_keys(ctx, item, {"sh", "timeout-s"}, "an acceptance map")
            cmd = expect(ctx, get(item, "sh"), str, 'a command string', "sh")
            timeout = _number(ctx, get(item, "timeout-s", 600.0), "timeout-s", above=0)
            out.append(Acceptance(cmd=cmd, timeout_s=float(timeout), line=line))
        else:
            raise ctx.fail(f'each check must be (sh "command") or {{:sh "command" :timeout-s '
                           f'60}}, got {kind_of(item)}', "acceptance")
    return tuple(out)


def _tool_names(ctx: Context, raw: Any, key: str) -> tuple[str, ...] | None:
    if raw == Keyword("all"):
        return None
    expect(ctx, raw, VECTOR, "a vector of tool keywords, or :all", key)
    names = []
    for item in raw:
        name = name_of(item)
        if not _is_tool(ctx, name, every=True):
            raise _unknown_tool(ctx, name, key)
        names.append(name)
    return tuple(names)


_GLOB = re.compile(r"[*?\[]")
_APPROVE_PATTERN = re.compile(r"^[\w*?\[\]!-]+(/[\w*?\[\]!.-]+)?$")


def _approve(ctx: Context, raw: Any) -> tuple[str, ...]:
    """``:approve``: tool-name patterns (globs; ``:server/tool`` and ``:server/*`` name an MCP
    server's tools, which are known only once it starts). A plain built-in or toolbox name must
    exist, and a glob without a server must match one of them: a typo would silently let calls
    through."""
    expect(ctx, raw, VECTOR, "a vector of tool keywords or patterns like [:sh :calc/*]",
           "approve")
    patterns = []
    for item in raw:
        if not isinstance(item, Keyword):
            raise ctx.fail(f"expected a tool keyword or pattern like :sh or :calc/*, got "
                           f"{kind_of(item)}", "approve")
        name = item.name
        if not _APPROVE_PATTERN.match(name):
            raise ctx.fail(f":{name} is not a tool name or pattern (letters, digits, -, _ and "
                           "the globs * ? [...]; :server/tool for an MCP server's tools)",
                           "approve")
        known = sorted(_known_tools(ctx))
        if "/" not in name and not _GLOB.search(name) and name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean :{near[0]}?)" if near else ""
            raise ctx.fail(f"unknown tool :{name}{hint}", "approve")
        if "/" not in name and _GLOB.search(name) and not fnmatch.filter(known, name):
            raise ctx.fail(f":{name} matches no tool", "approve")
        patterns.append(name)
    return tuple(dict.fromkeys(patterns))


def _approve_timeout(ctx: Context, raw: Any) -> float:
    return float(_number(ctx, raw, "approve-timeout-s", above=0))


_TURN_KEYS = {"say", "call", "args", "calls", "delay-ms", "tokens"}


def _call(ctx: Context, raw: Any) -> dict[str, Any]:
    expect(ctx, raw, Mapping, "a map like {:call :sh :args {:cmd \"ls\"}}", "calls")
    fields = keyed(ctx, raw, {"call", "args"}, "a script call")
    return _checked_call(ctx, fields.get("call"), fields.get("args", {}))


def _checked_call(ctx: Context, tool: Any, args: Any) -> dict[str, Any]:
    name = name_of(tool)
    if not _is_tool(ctx, name, every=False):
        raise _unknown_tool(ctx, name, "call")
    expect(ctx, args, Mapping, "a map of arguments", "args")
    args = plain(args)
    try:
        check_json(args)
    except NumberError as exc:
        raise ctx.fail(str(exc), "args") from None
    return {"tool": name, "args": args}


def _script(ctx: Context, raw: Any) -> tuple[dict[str, Any], ...]:
    expect(ctx, raw, VECTOR, "a vector of turns", "script")
    turns = []
    for turn in raw:
        expect(ctx, turn, Mapping, 'a map like {:say "done"} or {:call :sh :args {...}}', "script")
        fields = keyed(ctx, turn, _TURN_KEYS, "a script turn")
        calls = []
        if fields.get("call") is not None:
            calls.append(_checked_call(ctx, fields["call"], fields.get("args", {})))
        elif fields.get("args") is not None:
            raise ctx.fail(":args without :call", "args")
        extra = fields.get("calls", [])
        expect(ctx, extra, VECTOR, "a vector of calls", "calls")
        calls.extend(_call(ctx, c) for c in extra)
        say = fields.get("say")
        if say is not None:
            expect(ctx, say, str, "a string", "say")
        delay = _number(ctx, fields.get("delay-ms", 0), "delay-ms", whole=True)
        tokens = fields.get("tokens")
        if tokens is not None:
            tokens = _number(ctx, tokens, "tokens", whole=True)
        if not calls and say is None:
            raise ctx.fail("a turn needs :say or :call/:calls", "script")
        turns.append({"calls": calls, "say": say, "delay_ms": delay, "tokens": tokens})
    return tuple(turns)


def _tool_choice(ctx: Context, raw: Any) -> str:
    name = raw.name if isinstance(raw, Keyword) else None
    if name in TOOL_CHOICES or (name is not None and _is_tool(ctx, name, every=False)):
        return name
    near = difflib.get_close_matches(name or "", [*TOOL_CHOICES, *sorted(_known_tools(ctx))],
                                     n=1)
    hint = f" (did you mean :{near[0]}?)" if near else ""
    raise ctx.fail(f"must be :auto, :required, :none or a tool keyword such as :write-file, got "
                   f"{kind_of(raw)}{hint}", "tool-choice")


_MODEL_SETTING_KEYS: dict[str, tuple[bool, float | None, float | None]] = {
    "max-output-tokens": (True, 1, 2**31 - 1), "temperature": (False, 0, 2),
    "top-p": (False, 0, 1), "seed": (True, None, None),
    "context-tokens": (True, 1, 2**31 - 1), "tool-output-chars": (True, 1, 2**31 - 1)}
"""Each setting: whole number or not, least and greatest value (``None``: the number check's)."""


def _named_maps(ctx: Context, raw: Any, key: str, *, example: str, names: str, entry: str,
                allowed: set[str], owner: str) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    """The entries of a map from name strings to maps (``:providers``, ``:prices``,
    ``:model-settings``), each checked to be a map with only ``allowed`` keys; ``owner``
    names one in errors (``{name}`` is replaced)."""
    expect(ctx, raw, Mapping, f"a map like {example}", key)
    for name, value in raw.items():
        expect(ctx, name, str, f"{names} as strings", key)
        expect(ctx, value, Mapping, entry, key)
        check_keys(ctx, value, allowed, owner.format(name=name))
        yield name, value


def _model_settings(ctx: Context, raw: Any) -> dict[str, ModelSettings]:
    out = {}
    for model, settings in _named_maps(
            ctx, raw, "model-settings", example='{"openai:gpt-5.2" {:max-output-tokens 8000}}',
            names="model specs", entry="a map of request settings",
            allowed=set(_MODEL_SETTING_KEYS), owner='the settings of "{name}"'):
        values: dict[str, Any] = {}
        for k, v in settings.items():
            whole, low, high = _MODEL_SETTING_KEYS[k.name]
            v = _number(ctx, v, k.name, whole=whole, minimum=low)
            if high is not None and v > high:
                raise ctx.fail(f"must be at most {high:g}, got {v}", k.name)
            values[k.name.replace("-", "_")] = v if whole else float(v)
        window, output = values.get("context_tokens"), values.get("max_output_tokens")
        if window is not None and output is not None and output >= window:
            raise ctx.fail(f"{window} leaves no room for the prompt: :max-output-tokens "
                           f"{output} is kept free for the answer", "context-tokens")
        out[model] = ModelSettings(**values)
    return out


_TASK_KEYS = {"task/id", "goal", "cwd", "acceptance", "children", "model", "budget", "tools",
              "script", "watchdog-s", "model-settings", "tool-choice", "system-prompt",
              "approve", "approve-timeout-s"}


def _watchdog(ctx: Context, raw: Any) -> float:
    return float(_number(ctx, raw, "watchdog-s", above=0))


def _system_prompt(ctx: Context, raw: Any) -> str:
    expect(ctx, raw, str, "a string of instructions", "system-prompt")
    try:
        return check_system_prompt(raw)
    except ValueError as exc:
        raise ctx.fail(str(exc), "system-prompt") from None


def check_system_prompt(text: str) -> str:
    """``text`` if it can be a system prompt (not blank, no NUL, at most
    :data:`MAX_SYSTEM_PROMPT` characters); raises :class:`ValueError` saying what is wrong."""
    if not text.strip():
        raise ValueError("is blank; leave it out instead")
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    if len(text) > MAX_SYSTEM_PROMPT:
        raise ValueError(f"has {len(text):,} characters; at most {MAX_SYSTEM_PROMPT:,} are allowed")
    return text


def _task(ctx: Context, raw: Any, seen: dict[str, int | None],
          order: list[tuple[Task, int] | None], depth: int = 0) -> Task:
    """The task of ``raw`` (``seen``: the line of each id so far; each task and its depth are
    put in ``order``, in pre-order)."""
    if type(raw) is not ImmutableDict:
        expect(ctx, raw, Mapping, "a task map with :task/id", "children")
    given = by_name(raw)  # (its keys are checked below, after the id)
    raw_id = get(raw, "task/id") if given is None else given.get("task/id")
    if raw_id is None:
        raise ctx.fail("a task without :task/id", "children" if seen else "task")
    task_id = name_of(raw_id) if isinstance(raw_id, Keyword | str) else None
    if task_id is None or not TASK_ID.match(task_id):
        raise ctx.fail(f"{kind_of(raw_id)} is not a task id: use letters, digits, - and _ "
                       "(dots separate agent paths)", "task/id")
    line = ctx.locate.task_line(task_id)
    if task_id in seen:
        first = seen[task_id]
        raise PlanError(f'duplicate task id "{task_id}" (first at line {first})',
                        source=ctx.source, line=_nth_task_line(ctx, task_id) or line,
                        key=":task/id")
    seen[task_id] = line
    if depth > MAX_DEPTH:
        raise PlanError(f'task "{task_id}" is at depth {depth}; tasks nest at most {MAX_DEPTH} '
                        "deep", source=ctx.source, line=line, key=":children")
    slot = len(order)
    order.append(None)  # (its place, before its children's)
    outer, ctx.anchor = ctx.anchor, line
    try:
        if given is None or not given.keys() <= _TASK_KEYS:
            check_keys(ctx, raw, _TASK_KEYS, f'task "{task_id}"')  # (raises)
        # (a type test first: ``expect`` is the error, and the rarer types it allows)
        goal = given.get("goal", "")
        if type(goal) is not str:
            expect(ctx, goal, str, "a string", "goal")
        model = given.get("model")
        if model is not None and type(model) is not str:
            expect(ctx, model, str, 'a model name string like "scripted"', "model")
        fields: dict[str, Any] = {
            "id": task_id, "goal": goal, "model": model, "line": line,
            "cwd": _option(ctx, "cwd", given["cwd"], _cwd) if "cwd" in given else ".",
            "acceptance": (_acceptance(ctx, given["acceptance"]) if "acceptance" in given
                           else ()),
        }
        for key, field, check in _TASK_OPTIONS:
            if key in given and given[key] is not None:
                fields[field] = _option(ctx, key, given[key], check)
        children = given.get("children", ())
        if type(children) is ImmutableList:
            children = children[:]  # its list at once (the Sequence mixin iterates in Python)
        else:
            expect(ctx, children, VECTOR, "a vector of task maps", "children")
        fields["children"] = tuple([_task(ctx, c, seen, order, depth + 1) for c in children])
        task = order[slot] = Task(**fields), depth
        return task[0]
    finally:
        ctx.anchor = outer


_TASK_OPTIONS: tuple[tuple[str, str, Callable[[Context, Any], Any]], ...] = (
    ("budget", "budget", _budget), ("tools", "tools", lambda c, v: _tool_names(c, v, "tools")),
    ("script", "script", _script), ("watchdog-s", "watchdog_s", _watchdog),
    ("model-settings", "model_settings", _model_settings),
    ("tool-choice", "tool_choice", _tool_choice), ("system-prompt", "system_prompt",
                                                   _system_prompt),
    ("approve", "approve", _approve), ("approve-timeout-s", "approve_timeout_s",
                                       _approve_timeout))
"""A task's optional keys in the order they are checked: the key, the :class:`Task` field and
the check that makes the field of a value (a key given as ``nil`` is left out)."""


def _option(ctx: Context, key: str, value: Any, check: Callable[[Context, Any], Any]) -> Any:
    """``check(ctx, value)``, once for each value object: the reader gives the values a
    machine-written plan repeats (the same script or budget in every task) as one object, and
    an option's field depends on its value and the plan's tools only (never on where it is;
    the first check of a value is the one that can fail, and an error ends the parse). The
    field is shared by the tasks that repeat the value, as read-only as the records are."""
    memo = ctx.checked if isinstance(ctx, _PlanContext) else {}
    seen = memo.get((key, id(value)))
    if seen is not None and seen[0] is value:
        return seen[1]
    field = check(ctx, value)
    memo[key, id(value)] = (value, field)
    return field


def _nth_task_line(ctx: Context, task_id: str) -> int | None:
    first = ctx.locate.task_line(task_id)
    if first is None:
        return None
    pattern = re.compile(r':task/id\s+(?:"' + re.escape(task_id) + r'"|:' + re.escape(task_id)
                         + r'(?![\w/.-]))')
    return ctx.locate.search(pattern, first + 1)


def _models(ctx: Context, raw: Any) -> dict[str, tuple[str, ...]]:
    expect(ctx, raw, Mapping, 'a map of model classes like {:large ["gpt-5.2"]}', "models")
    out = {}
    for k, v in raw.items():
        expect(ctx, k, Keyword, "keyword class names like :large", "models")
        expect(ctx, v, VECTOR, "a vector of model name strings", "models")
        for m in v:
            expect(ctx, m, str, "model name strings", "models")
        out[k.name] = tuple(v)
    return out


def _allowed(ctx: Context, raw: Any, models: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    if isinstance(raw, Keyword):
        if raw.name not in models:
            near = difflib.get_close_matches(raw.name, list(models), n=1)
            hint = f" (did you mean :{near[0]}?)" if near else ""
            raise ctx.fail(f"no model class :{raw.name} in :models{hint}", "models")
        classes = list(models)
        names: list[str] = []
        for cls in classes[classes.index(raw.name):]:
            names.extend(m for m in models[cls] if m not in names)
        return tuple(names)
    expect(ctx, raw, VECTOR, "a model class keyword or a vector of model names",
            "models")
    for m in raw:
        expect(ctx, m, str, "model name strings", "models")
    return tuple(dict.fromkeys(raw))


_TIER_KEYS = {"depth", "models", "tools", "budget", "watchdog-s", "model-settings",
              "tool-choice", "system-prompt", "approve", "approve-timeout-s"}


def _tiers(ctx: Context, raw: Any, models: dict[str, tuple[str, ...]]) -> tuple[Tier, ...]:
    everything = tuple(dict.fromkeys(m for ms in models.values() for m in ms)) or ("scripted",)
    if raw is None:
        return (Tier(depth=0, models=everything, tools=None, budget=DEFAULT_BUDGET),)
    expect(ctx, raw, VECTOR, "a vector of tier maps", "tiers")
    if not raw:
        raise ctx.fail("needs at least one tier (depth 0)", "tiers")
    tiers: list[Tier] = []
    tiers_line = ctx.anchor = ctx.locate.key_line("tiers", 1)
    for item in raw:
        expect(ctx, item, Mapping, "a tier map like {:depth 0 :models :large}", "tiers")
        check_keys(ctx, item, _TIER_KEYS, "a tier")
        depth = _number(ctx, get(item, "depth"), "depth", whole=True)
        ctx.anchor = ctx.locate.search(re.compile(rf":depth\s+{depth}(?!\d)"), tiers_line or 1) \
            or tiers_line
        expected_first = not tiers and depth != 0
        if depth < 0 or expected_first or (tiers and depth <= tiers[-1].depth):
            raise ctx.fail("tier depths start at 0 and increase", "depth")
        allowed = _allowed(ctx, get(item, "models"), models) if get(item, "models") is not None \
            else (tiers[-1].models if tiers else everything)
        tools = _tool_names(ctx, get(item, "tools", Keyword("all")), "tools")
        budget = _budget(ctx, get(item, "budget")) if get(item, "budget") is not None else None
        watchdog = _watchdog(ctx, get(item, "watchdog-s")) \
            if get(item, "watchdog-s") is not None else None
        if tiers:
            above = tiers[-1]
            for m in allowed:
                if m not in above.models and not is_scripted(m):
                    raise ctx.fail(f'tier depth {depth} asks for model "{m}" that tier depth '
                                   f"{above.depth} lacks", "models")
            if above.tools is not None:
                extra = [t for t in (tools or sorted(_all_tools(ctx)))
                         if not covers(above.tools, t)]
                if extra:
                    raise ctx.fail(f"tier depth {depth} asks for tool :{extra[0]} that tier "
                                   f"depth {above.depth} lacks", "tools")
        elif budget is None:
            budget = DEFAULT_BUDGET
        choice = get(item, "tool-choice")
        choice = None if choice is None else _tool_choice(ctx, choice)
        if choice not in (None, *TOOL_CHOICES) and tools is not None \
                and not covers(tools, choice):
            raise ctx.fail(f"tool :{choice} is not among tier depth {depth}'s tools",
                           "tool-choice")
        settings = get(item, "model-settings")
        prompt = get(item, "system-prompt")
        approve = () if get(item, "approve") is None else _approve(ctx, get(item, "approve"))
        approve_timeout = None if get(item, "approve-timeout-s") is None \
            else _approve_timeout(ctx, get(item, "approve-timeout-s"))
        tiers.append(Tier(depth=depth, models=allowed, tools=tools, budget=budget,
                          watchdog_s=watchdog, tool_choice=choice, approve=approve,
                          approve_timeout_s=approve_timeout,
                          model_settings={} if settings is None else
                          _model_settings(ctx, settings),
                          system_prompt=None if prompt is None else _system_prompt(ctx, prompt)))
    return tuple(tiers)


def _enum(ctx: Context, raw: Any, key: str, values: tuple[str, ...]) -> str:
    choices = " ".join(":" + v for v in values)
    if not isinstance(raw, Keyword) or raw.name not in values:
        raise ctx.fail(f"must be one of {choices}, got {kind_of(raw)}", key)
    return raw.name


def _talk(ctx: Context, raw: Any) -> frozenset[str]:
    expect(ctx, raw, (frozenset, *VECTOR), "a set like #{:parent :children}", "talk")
    names = set()
    for item in raw:
        if not isinstance(item, Keyword) or item.name not in TALK_VALUES:
            raise ctx.fail(f"{kind_of(item)} is not one of :parent :children :siblings", "talk")
        names.add(item.name)
    return frozenset(names)


def _lock_policy(ctx: Context, raw: Any) -> LockPolicy:
    if isinstance(raw, Keyword):
        return LockPolicy(mode=_enum(ctx, raw, "locks", LOCKS_VALUES))
    expect(ctx, raw, Mapping, "a mode (:advisory or :required) or a map of lock settings",
            "locks")
    check_keys(ctx, raw, set(_LOCK_KEYS), ":locks")
    values: dict[str, Any] = {}
    for k, v in raw.items():
        name = k.name
        if name == "mode":
            values["mode"] = _enum(ctx, v, "mode", LOCKS_VALUES)
            continue
        positive = name in ("ttl-ms", "max-ttl-ms")
        values[name.replace("-", "_")] = _number(ctx, v, name, whole=True,
                                                 above=0 if positive else None)
    policy = LockPolicy(**values)
    if policy.ttl_ms > policy.max_ttl_ms:
        raise ctx.fail(f"ttl-ms {policy.ttl_ms} exceeds max-ttl-ms {policy.max_ttl_ms}",
                       "ttl-ms")
    return policy


def _providers(ctx: Context, raw: Any) -> dict[str, Provider]:
    out = {}
    expected = {str: "a string", int: "a whole number", bool: "true or false"}
    for name, settings in _named_maps(
            ctx, raw, "providers", example='{"openai" {:api-key-env "MY_KEY"}}',
            names="provider names or base URLs", entry="a map of provider settings",
            allowed=set(_PROVIDER_KEYS), owner='provider "{name}"'):
        values: dict[str, Any] = {}
        for k, v in settings.items():
            want = _PROVIDER_KEYS[k.name]
            if want is int:
                v = _number(ctx, v, k.name, whole=True, minimum=1)
            else:
                expect(ctx, v, want, expected[want], k.name)
            if k.name == "max-tokens-param" and v not in MAX_TOKENS_PARAMS:
                raise ctx.fail(f'must be "max_tokens" or "max_completion_tokens", got "{v}"',
                               k.name)
            values[k.name.replace("-", "_")] = v
        out[name] = Provider(**values)
    return out


def _prices(ctx: Context, raw: Any) -> dict[str, Price]:
    out = {}
    for model, price in _named_maps(
            ctx, raw, "prices", example='{"gpt-5.2" {:prompt 1.25 :completion 10.0}}',
            names="model names", entry="a map with :prompt and :completion",
            allowed={"prompt", "completion"}, owner='price of "{name}"'):
        values = {}
        for k, v in price.items():
            values[k.name] = float(_number(ctx, v, k.name))
        out[model] = Price(**values)
    return out


_PLAN_KEYS = {"run/name", "models", "tiers", "talk", "sandbox", "locks", "providers", "prices",
              "model-settings", "toolbox", "mcp", "task"}


def _all_tools(ctx: Context) -> frozenset[str]:
    """What a tier without ``:tools`` (``:all``) allows."""
    servers = ctx.servers if isinstance(ctx, _PlanContext) else frozenset()
    return _known_tools(ctx) | {all_of(s) for s in servers}


def _check_wire_names(ctx: Context, toolbox: Mapping[str, DeclaredTool],
                      servers: dict[str, McpServer]) -> None:
    """No toolbox tool may be sent to models under a name an MCP server's tool could take."""
    for name in toolbox:
        prefix, separator, _ = name.partition(WIRE_SEPARATOR)
        if separator and prefix in servers:
            ctx.anchor = ctx.locate.key_line("toolbox", 1)
            raise ctx.fail(f"tool :{name} would collide on the wire with MCP server :{prefix}'s "
                           f"tools (sent to models as {prefix}{WIRE_SEPARATOR}TOOL): rename it",
                           name)


def _check_task_policy(ctx: Context, plan: Plan,
                       order: list[tuple[Task, int] | None]) -> None:
    """Each task's model and tools are allowed by its tier (``order``: the plan's tasks in
    pre-order, with their depths, as :func:`_task` puts them; no slot left empty)."""
    tiers: dict[int, Tier] = {}
    for task, depth in order:
        tier = tiers.get(depth) or tiers.setdefault(depth, plan.tier_for(depth))
        if task.model is task.tools is task.tool_choice is tier.tool_choice is None:
            continue  # nothing to check
        ctx.anchor = task.line
        if task.model is not None and task.model not in tier.models \
                and not is_scripted(task.model):
            raise ctx.fail(f'model "{task.model}" is not allowed at depth {depth}; allowed: '
                           f"{', '.join(tier.models)}", "model")
        if task.tools is not None and tier.tools is not None:
            extra = [t for t in task.tools if not covers(tier.tools, t)]
            if extra:
                raise ctx.fail(f"tool :{extra[0]} is not allowed at depth {depth}", "tools")
        choice = task.tool_choice or tier.tool_choice
        tools = task.tools if task.tools is not None else tier.tools
        if choice not in (None, *TOOL_CHOICES) and tools is not None \
                and not covers(tools, choice):
            raise ctx.fail(f'tool :{choice} is not among task "{task.id}"\'s tools',
                           "tool-choice")


@collector_paused()  # it builds a tree of acyclic records: collections would only rescan it
def parse_plan(text: str, source: str = "<plan>",
               base_dir: str | os.PathLike[str] | None = None,
               toolbox: Mapping[str, DeclaredTool] | None = None) -> Plan:
    """Parse and validate EDN plan text; its relative paths resolve against ``base_dir``
    (default: the current directory). ``toolbox`` holds tools declared outside the text (the
    functions given to :func:`agenttree.run`), as if in its ``:toolbox`` (where the text's own
    entry of a name wins).

    Raises:
        PlanError: the first problem found, with file, line and key.
    """
    ctx = _PlanContext(source=source, locate=_PlanLocator(text))
    data = read_edn(ctx, text)
    if not isinstance(data, Mapping):
        raise ctx.fail(f"a plan must be a map, got {kind_of(data)}", line=1)
    name = _default_name(source)
    if get(data, "task/id") is not None and get(data, "task") is None:
        data = {Keyword("task"): data}
    check_keys(ctx, data, _PLAN_KEYS, "the plan")
    if get(data, "task") is None:
        raise ctx.fail("a plan needs :task (the root task map)", line=1)
    run_name = get(data, "run/name", name)
    expect(ctx, run_name, str, "a string", "run/name")
    if not RUN_NAME.match(run_name):
        raise ctx.fail(f"{kind_of(run_name)} cannot name a run directory: use letters, "
                       "digits, -, _ and . (not first), at most 100 characters", "run/name")
    toolbox = {**(toolbox or {}), **parse_toolbox(ctx, get(data, "toolbox", {}))}
    ctx.anchor = None
    servers = parse_mcp(ctx, get(data, "mcp", {}))
    _check_wire_names(ctx, toolbox, servers)
    ctx.anchor = None
    ctx.tools = TOOL_NAMES | frozenset(toolbox)
    ctx.servers = frozenset(servers)
    models = _models(ctx, get(data, "models")) if get(data, "models") is not None else {}
    tiers = _tiers(ctx, get(data, "tiers"), models)
    ctx.anchor = None
    talk = _talk(ctx, get(data, "talk")) if get(data, "talk") is not None else DEFAULT_TALK
    sandbox = _enum(ctx, get(data, "sandbox", Keyword("auto")), "sandbox", SANDBOX_VALUES)
    locks = _lock_policy(ctx, get(data, "locks", Keyword("advisory")))
    providers = _providers(ctx, get(data, "providers", {}))
    prices = _prices(ctx, get(data, "prices", {}))
    model_settings = _model_settings(ctx, get(data, "model-settings", {}))
    order: list[tuple[Task, int] | None] = []
    root = _task(ctx, get(data, "task"), {}, order)
    plan = Plan(name=run_name, models=models, tiers=tiers, talk=talk, sandbox=sandbox,
                locks=locks, providers=providers, prices=prices, model_settings=model_settings,
                toolbox=toolbox, mcp=servers, root=root, source=source,
                base_dir=Path(os.path.abspath(base_dir or os.curdir)))
    _check_task_policy(ctx, plan, order)
    return plan


def _default_name(source: str) -> str:
    """A plan without ``:run/name`` is named after its file, made fit for a directory name."""
    stem = Path(source).stem if source != "<plan>" else "plan"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", stem).lstrip(".-")[:100] or "plan"


def load_plan(path: str | Path, base_dir: str | os.PathLike[str] | None = None,
              toolbox: Mapping[str, DeclaredTool] | None = None) -> Plan:
    """Read and validate a plan file (its name defaults to the file's stem); its relative paths
    resolve against ``base_dir``, by default the file's own directory (``toolbox``: as for
    :func:`parse_plan`)."""
    base = os.path.dirname(os.path.abspath(path)) if base_dir is None else base_dir
    return parse_plan(read_source(path), source=str(path), base_dir=base, toolbox=toolbox)


_SETTINGS_KEYS = {"providers", "model-settings", "prices"}


def parse_settings(text: str, source: str = "<settings>") -> Settings:
    """Parse and validate a settings map: ``{:providers {...} :model-settings {...} :prices
    {...}}``, each as in a plan.

    Raises:
        PlanError: the first problem found, with file, line and key.
    """
    ctx = _PlanContext(source=source, locate=_PlanLocator(text))
    data = read_edn(ctx, text)
    if not isinstance(data, Mapping):
        raise ctx.fail(f"settings must be a map with :providers, :model-settings or :prices, "
                       f"got {kind_of(data)}", line=1)
    check_keys(ctx, data, _SETTINGS_KEYS, "the settings")
    return Settings(providers=_providers(ctx, get(data, "providers", {})),
                    model_settings=_model_settings(ctx, get(data, "model-settings", {})),
                    prices=_prices(ctx, get(data, "prices", {})))


def load_settings(path: str | Path) -> Settings:
    """Read and validate a settings file (:func:`parse_settings`)."""
    return parse_settings(read_source(path), source=str(path))


# --- writing EDN ---------------------------------------------------------------------------


def _edn(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                   .replace("\t", "\\t").replace("\r", "\\r"))
        return f'"{escaped}"'
    if isinstance(value, dict):
        return "{" + " ".join(f"{_key(k)} {_edn(v)}" for k, v in value.items()) + "}"
    if isinstance(value, VECTOR):
        return "[" + " ".join(_edn(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as EDN")


_KEYWORD = re.compile(r"^[A-Za-z*+!_?-][\w*+!?<>=/.-]*$")


def _key(key: str) -> str:
    return f":{key}" if _KEYWORD.match(key) and not key.endswith("/") else _edn(key)


def _budget_edn(budget: Budget) -> str:
    parts = [f":{k.replace('_', '-')} {_edn(v)}" for k, v in attrs.asdict(budget).items()
             if v is not None]
    return "{" + " ".join(parts) + "}"


def _fields_edn(record: Any) -> str:
    """An attrs record's set fields as EDN map entries (``None`` left out)."""
    return " ".join(f":{k.replace('_', '-')} {_edn(v)}" for k, v in attrs.asdict(record).items()
                    if v is not None)


def _model_settings_edn(table: dict[str, ModelSettings]) -> str:
    return "{" + " ".join(f"{_edn(m)} {{{_fields_edn(s)}}}" for m, s in table.items()) + "}"


def _turn_edn(turn: dict[str, Any]) -> str:
    parts = []
    if turn.get("calls"):
        calls = " ".join("{:call :" + c["tool"] + " :args " + _edn(c["args"]) + "}"
                         for c in turn["calls"])
        parts.append(f":calls [{calls}]")
    if turn.get("say") is not None:
        parts.append(f":say {_edn(turn['say'])}")
    if turn.get("delay_ms"):
        parts.append(f":delay-ms {turn['delay_ms']}")
    if turn.get("tokens") is not None:
        parts.append(f":tokens {turn['tokens']}")
    return "{" + " ".join(parts) + "}"


def _approve_edn(holder: Task | Tier) -> list[str]:
    """A task's or tier's ``:approve`` and ``:approve-timeout-s``, when set."""
    out = []
    if holder.approve:
        out.append(":approve [" + " ".join(":" + p for p in holder.approve) + "]")
    if holder.approve_timeout_s is not None:
        out.append(f":approve-timeout-s {holder.approve_timeout_s!r}")
    return out


def _task_edn(task: Task, indent: str) -> str:
    inner = indent + " "
    lines = [f":task/id {_edn(task.id)}"]
    if task.goal:
        lines.append(f":goal {_edn(task.goal)}")
    if task.cwd != ".":
        lines.append(f":cwd {_edn(task.cwd)}")
    if task.model is not None:
        lines.append(f":model {_edn(task.model)}")
    if task.budget is not None:
        lines.append(f":budget {_budget_edn(task.budget)}")
    if task.tools is not None:
        lines.append(":tools [" + " ".join(":" + t for t in task.tools) + "]")
    if task.watchdog_s is not None:
        lines.append(f":watchdog-s {task.watchdog_s!r}")
    if task.tool_choice is not None:
        lines.append(f":tool-choice :{task.tool_choice}")
    if task.model_settings:
        lines.append(f":model-settings {_model_settings_edn(task.model_settings)}")
    if task.system_prompt is not None:
        lines.append(f":system-prompt {_edn(task.system_prompt)}")
    lines.extend(_approve_edn(task))
    if task.acceptance:
        checks = " ".join(f"(sh {_edn(a.cmd)})" if a.timeout_s == 600.0 else
                          f"{{:sh {_edn(a.cmd)} :timeout-s {a.timeout_s!r}}}"
                          for a in task.acceptance)
        lines.append(f":acceptance [{checks}]")
    if task.script is not None:
        turns = f"\n{inner} ".join(_turn_edn(t) for t in task.script)
        lines.append(f":script [{turns}]")
    if task.children:
        kids = f"\n{inner} ".join(_task_edn(c, inner + " ") for c in task.children)
        lines.append(f":children [{kids}]")
    return "{" + f"\n{inner}".join(lines) + "}"


def plan_to_edn(plan: Plan) -> str:
    """The plan as readable EDN that :func:`parse_plan` turns back into an equal plan."""
    out = [f"{{:run/name {_edn(plan.name)}"]
    if plan.models:
        classes = " ".join(f":{k} {_edn(list(v))}" for k, v in plan.models.items())
        out.append(f" :models {{{classes}}}")
    tiers = []
    for tier in plan.tiers:
        parts = [f":depth {tier.depth}", f":models {_edn(list(tier.models))}",
                 ":tools " + (":all" if tier.tools is None else
                              "[" + " ".join(":" + t for t in tier.tools) + "]")]
        if tier.budget is not None:
            parts.append(f":budget {_budget_edn(tier.budget)}")
        if tier.watchdog_s is not None:
            parts.append(f":watchdog-s {tier.watchdog_s!r}")
        if tier.tool_choice is not None:
            parts.append(f":tool-choice :{tier.tool_choice}")
        if tier.model_settings:
            parts.append(f":model-settings {_model_settings_edn(tier.model_settings)}")
        if tier.system_prompt is not None:
            parts.append(f":system-prompt {_edn(tier.system_prompt)}")
        parts.extend(_approve_edn(tier))
        tiers.append("{" + " ".join(parts) + "}")
    out.append(" :tiers [" + "\n         ".join(tiers) + "]")
    out.append(" :talk #{" + " ".join(":" + t for t in sorted(plan.talk)) + "}")
    out.append(f" :sandbox :{plan.sandbox}")
    lock_fields = attrs.asdict(plan.locks)
    lock_fields["mode"] = Keyword(lock_fields["mode"])
    out.append(" :locks {" + " ".join(
        f":{k.replace('_', '-')} " + (f":{v.name}" if isinstance(v, Keyword) else str(v))
        for k, v in lock_fields.items()) + "}")
    if plan.providers:
        out.append(" :providers {" + " ".join(f"{_edn(name)} {{{_fields_edn(p)}}}"
                                              for name, p in plan.providers.items()) + "}")
    if plan.prices:
        out.append(" :prices {" + " ".join(
            f"{_edn(m)} {{:prompt {p.prompt!r} :completion {p.completion!r}}}"
            for m, p in plan.prices.items()) + "}")
    if plan.model_settings:
        out.append(f" :model-settings {_model_settings_edn(plan.model_settings)}")
    if plan.toolbox:
        out.append(f" :toolbox {toolbox_to_edn(plan.toolbox, _edn)}")
    if plan.mcp:
        out.append(f" :mcp {mcp_to_edn(plan.mcp, _edn)}")
    out.append(" :task " + _task_edn(plan.root, "       ") + "}")
    return "\n".join(out) + "\n"
