"""The engine: a run directory, the event log writer, the router and the root agent.

Structure (each line a nursery or scope inside the one above)::

    Engine.run
      open_event_log            the writer task; outlives every agent so all ends are logged
        signal watcher          Ctrl-C cancels the root agent (the tree ends cleanly)
        control tail            applies commands appended to control.jsonl
        lock service            owns the file-lock table
        MCP servers             one task per server of the plan's :mcp (agenttree.tools.mcp_tools)
        root agent              its children run in its own nursery, and so on down
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .. import __version__
from .. import events as ev
from ..budget import budget_to_dict
from ..collector import own_collector
from ..errors import UserError
from ..live_state import apply_live, to_live
from ..log_writer import open_event_log
from ..models.base import ModelClient, ModelError
from ..models.ratelimit import RateLimiter
from ..models.scripted import ScriptedModel, default_script
from ..models.shared_http import SharedHttp
from ..models.spec import by_model, parse_model_spec
from ..plan import DEFAULT_CONCURRENCY, ModelSettings, Plan, Task, is_scripted, plan_to_edn
from ..plan_diff import index, own_fields
from ..policy import Policy, derive, root_policy
from ..prompt import imposed, system_prompt
from ..redact import redact
from ..sandbox.base import ExecResult
from ..sandbox.procs import detect_confinement, signal_group
from ..sandbox.workspace import WorkspaceSandbox
from ..state import RunState
from ..tool_names import all_of, plan_tool_name, server_of
from ..tools.base import Tool
from ..tools.builtin import REGISTRY
from ..tools.custom import custom_tools
from ..tools.outputs import OutputStore
from ..workspace import Workspace, WorkspaceError
from .agent import Agent, AgentSpec
from .approvals import ApprovalDesk
from .control import ControlTail
from .emit import Replayer, build_emit
from .lock_guard import guard_command
from .locks import SERVICE, LockService
from .reconcile import Reconciler
from .router import Router
from .runlock import engine_lock
from .tasks import TaskBook

if TYPE_CHECKING:
    from ..tools.mcp_tools import McpConnection

MODEL_TIMEOUT_S = 300.0
OUTPUT_CAP = 64_000
"""Bytes of a command's output kept (head and tail)."""


def tune_gc() -> None:
    """Fewer collections for a process holding thousands of long-lived agents.

    Freezes what start-up allocated (imports, the plan) out of the collector's sight and raises
    the young generation's threshold: agents are mostly long-lived objects that reference
    counting frees, so frequent full scans only cost time.
    """
    own_collector((50_000, 20, 100))


class Engine:
    """Runs one plan in one run directory.

    Args:
        plan: the validated plan.
        run_dir: where ``plan.edn``, ``events.jsonl``, ``control.jsonl`` and ``workspace/`` go.
        seed: recorded in the log; seeds any randomness.
        durability: ``none``, ``batch`` or ``every`` (see :class:`~agenttree.log_writer.EventLog`).
        model_override: one model spec for every agent (``--model``).
        wall_clock: the source of event time stamps (injectable for tests).
        handle_signals: let Ctrl-C (SIGINT) and SIGTERM cancel the tree cleanly.
        provider_limiters: each provider's (connection limiter, rate limiter), filled as
            providers are first used; pass one dict to several engines to share the limits
            (the benchmark's cases do). Default: this engine's own.
        state: the folded log a resume goes on from (default: a new run's).
        functions: Python tools' functions by tool name, used instead of importing the
            ``:python`` functions the plan names (:func:`agenttree.run`'s ``tools``).

    Raises:
        PlanError: a declared tool cannot be made (a ``:python`` module not found...).
    """

    def __init__(self, plan: Plan, run_dir: str | os.PathLike[str], *, seed: int = 0,
                 durability: str = "batch", model_override: str | None = None,
                 wall_clock: Any = time.time, handle_signals: bool = False,
                 provider_limiters: dict[str, tuple[trio.CapacityLimiter, RateLimiter]]
                 | None = None, state: RunState | None = None,
                 functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.plan = plan
        self.run_dir = Path(run_dir)
        self.seed = seed
        self.durability = durability
        self.model_override = model_override
        self.wall_clock = wall_clock
        self.handle_signals = handle_signals
        self.state = RunState() if state is None else to_live(state)
        """The log folded as it is written, in the engine's projection
        (:mod:`agenttree.live_state`: conversations cut to their tail). A resume starts from
        the log's fold, which the engine takes over and cuts the same way."""
        self.places = index(plan)
        self.plan_edn = plan_to_edn(plan)
        self.functions = dict(functions or {})
        self.custom_tools = custom_tools(plan, self.functions)
        """The plan's own tools (its ``:toolbox``), by name."""
        self.mcp: dict[str, McpConnection] = {}
        """The plan's MCP servers, by name, once the run has started them."""
        self.book = TaskBook(self.places)
        """Which agent runs which task, the running agents, what waits on an attempt's end."""
        self.reconciler = Reconciler(self)
        self.interrupted = False
        self.replayer: Replayer | None = None
        """Set before :meth:`run` to replay recorded results: a resume
        (:class:`~agenttree.runtime.resume.Restorer`) or a regression replay
        (:class:`~agenttree.runtime.replay.RegressionReplay`). Agents get their cursors from
        it; it is the replay hook of the run's one ``emit``."""
        self.on_event: Callable[[ev.Entry], None] | None = None
        """Called with every entry once it is written (after the engine's state has it)."""
        self.confinement = detect_confinement(plan.sandbox)
        self.shell: WorkspaceSandbox | None = None
        """Where ``sh`` and acceptance commands run: set before :meth:`run` to use another
        sandbox (its ``exec`` taking ``on_start`` like :class:`WorkspaceSandbox`'s); else the
        run makes a :class:`WorkspaceSandbox` over its workspace, confined by
        :attr:`confinement`."""
        self._schemas: dict[frozenset[str], list[dict[str, Any]]] = {}
        self._schema_names: dict[frozenset[str], list[str]] = {}
        self._settings: dict[tuple[int, str], ModelSettings] = {}
        """Model settings by (tier depth, model) for the tasks without settings of their own."""
        self._policies: dict[tuple[Any, ...], Policy] = {}
        self._limiters = {} if provider_limiters is None else provider_limiters
        self.rng = random.Random(seed)
        self.outputs = OutputStore(self.run_dir / "outputs")
        """Whole tool outputs too long for a transcript (outside the workspace)."""
        self.http: SharedHttp
        """The HTTP client network models share, built when the first of them asks."""
        self.workspace: Workspace
        self.router: Router
        self.approvals: ApprovalDesk
        """The calls waiting for a person (``:approve``)."""
        self.locks: LockService
        self.emit: Callable[[ev.Event], int]
        """Log an event (never blocks): the log writer's ``emit`` behind the replayer's hook,
        built once as the log opens and handed to everything that logs."""
        self.root_up = trio.Event()
        """Set once the first root agent is reachable (the control tail waits for it)."""
        self._groups: dict[int, str] = {}
        """The process groups of commands running now, by pgid: their agent."""
        bin_dir = os.path.dirname(sys.executable)
        self.env = {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "TZ": "UTC", "PYTHONHASHSEED": "0", "TERM": "dumb",
        }

    # --- running ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the run directory: the plan, an empty control file and the workspace. (A
        resumed run keeps its ``plan.edn``: it may hold an edit not yet reconciled.)"""
        (self.run_dir / "workspace").mkdir(parents=True, exist_ok=True)
        plan_file = self.run_dir / "plan.edn"
        if not self.state.seq or not plan_file.exists():
            plan_file.write_text(self.plan_edn)
        (self.run_dir / "control.jsonl").touch()

    async def run(self) -> str:
        """Run the plan to its end; returns the root task's status.

        Cancelling this call cancels the whole tree; every agent's end is still logged.
        """
        self.prepare()
        with engine_lock(self.run_dir), Workspace(self.run_dir / "workspace") as workspace:
            self.workspace = workspace
            # Every task's working directory exists from the start: what an agent sees in a
            # sibling's directory never depends on whether the sibling has started yet.
            for cwd in sorted({place.task.cwd for place in self.places.values()}):
                try:
                    workspace.resolve_dir(cwd, create=True)
                except WorkspaceError:
                    pass  # (a file in the way) the task's first command says so, clearly
            if self.shell is None:
                self.shell = WorkspaceSandbox(workspace, self.confinement, self.env,
                                              output_cap=OUTPUT_CAP)
            self.http = SharedHttp(timeout_s=MODEL_TIMEOUT_S, connect_s=10, max_connections=64)
            async with trio.open_nursery() as signals:
                if self.handle_signals:  # until the log is closed: a late Ctrl-C cuts no end
                    await signals.start(self._watch_signals)
                status = await self._run_with_log()
                signals.cancel_scope.cancel()
            return status

    async def _run_with_log(self) -> str:
        async with open_event_log(self.run_dir / "events.jsonl", run=self.run_dir.name,
                                  durability=self.durability, wall_clock=self.wall_clock,
                                  on_write=self._on_write,
                                  next_seq=self.state.seq + 1) as log:
            self.emit = emit = build_emit(log.emit, self.replayer)
            self.router = Router(emit, self.plan.talk)
            self.approvals = ApprovalDesk(emit, lambda call: self.state.approvals.get(call))
            self.locks = LockService(
                emit, self.plan.locks,
                deliver=lambda to, kind, text, data: self.router.deliver(
                    SERVICE, to, kind, text, data),
                cancel=self.cancel, is_running=self.book.is_running)
            if self.replayer is not None:
                self.replayer.attach(self)
            try:
                status = await self._run_logged()
            finally:
                with trio.CancelScope(shield=True):
                    await self.http.aclose()
        return status

    async def _run_logged(self) -> str:
        plan = self.plan
        if not self.state.seq:  # a new run (a resume starts from the folded log instead)
            self.emit(ev.RunStarted(plan_name=plan.name, plan_path=plan.source,
                                    run_dir=str(self.run_dir), seed=self.seed,
                                    durability=self.durability, version=__version__,
                                    pid=os.getpid(), model=self.model_override))
            for event in ev.plan_events(ev.PlanLoaded, self.plan_edn, name=plan.name,
                                        source=plan.source, tasks=len(self.places),
                                        base_dir=str(plan.base_dir)):
                self.emit(event)
        status = "cancelled"
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ControlTail(self, self.run_dir / "control.jsonl").run)
                await nursery.start(self.locks.run)
                await self._start_mcp(nursery)
                status = await self._run_root()
                nursery.cancel_scope.cancel()
        finally:
            reason = "interrupted" if self.interrupted else ""
            self.emit(ev.RunFinished(status=status, reason=reason))
        return status

    async def _start_mcp(self, nursery: trio.Nursery) -> None:
        """Start the plan's MCP servers (their tools are known from then on).

        Raises:
            UserError: a server did not start (the run ends before any agent starts).
        """
        if not self.plan.mcp:
            return
        from ..tools.mcp_tools import McpConnection  # the mcp SDK: only when a plan has servers

        for name, spec in self.plan.mcp.items():
            connection = McpConnection(spec, base_dir=self.plan.base_dir, path=self.env["PATH"],
                                       errlog=self.run_dir / "mcp" / f"{name}.stderr",
                                       emit=self.emit)
            await nursery.start(connection.run)
            self.mcp[name] = connection

    async def _run_root(self) -> str:
        note: str | None = ""
        while True:
            root = Agent(self, self.root_spec(note))
            root.open()
            self.root_up.set()
            status = await root.run()
            note = self.book.take_root_restart()
            if note is None or self.interrupted:
                return status

    def root_spec(self, note: str = "") -> AgentSpec:
        """The root agent's spec: tier 0's policy and budget (a resume: as the log left it)."""
        restored = None if self.replayer is None or note else self.replayer.root_spec()
        if restored is not None:
            return restored
        plan = self.plan
        policy = root_policy(plan, self.model_override)
        budget = self.budget_wanted(plan.root, 0)
        wall = budget.get("wall_s")
        deadline = math.inf if wall is None else trio.current_time() + wall
        return AgentSpec(id=plan.root.id, task=plan.root, depth=0, policy=policy,
                         model=policy.choose_model(plan.root), budget=budget, deadline=deadline,
                         attempt=self.book.attempts(plan.root.id) + 1, note=note,
                         prompts=imposed((), plan, plan.root, 0))

    # --- tasks ------------------------------------------------------------------------------

    @property
    def agents(self) -> Mapping[str, Agent]:
        """The running agents by id (read-only; the task book owns them)."""
        return self.book.agents

    def set_plan(self, plan: Plan) -> None:
        """Follow a new plan from now on (reconcile); agents already running keep theirs
        apart from their children list.

        Raises:
            PlanError: a tool it declares cannot be made (nothing was changed).
        """
        self.custom_tools = custom_tools(plan, self.functions)
        self._forget_schemas()
        self.plan = plan
        self.places = index(plan)
        self.book.learn(self.places)
        self.plan_edn = plan_to_edn(plan)
        self._policies.clear()
        self._settings.clear()
        for agent in self.book.agents.values():
            place = self.places.get(agent.task.id)
            if place is not None and own_fields(place.task) == own_fields(agent.task):
                agent.follow(place.task)

    async def _watch_signals(self, *, task_status: trio.TaskStatus[None] =
                             trio.TASK_STATUS_IGNORED) -> None:
        """Ctrl-C (or SIGTERM) cancels the root, so the tree ends cleanly and every end is
        logged. A second one hurries that: the commands still running are SIGKILLed at once,
        rather than given their grace period (the log is still written whole). Watched until
        the log is closed, so one that comes as the run ends cuts nothing short."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                if self.interrupted:
                    for pgid in list(self._groups):
                        signal_group(pgid, signal.SIGKILL)
                    continue
                self.interrupted = True
                self.cancel(self.plan.root.id, "interrupted by the user")

    def cancel(self, agent_id: str, reason: str) -> bool:
        """Cancel a running agent and its subtree; ``False`` if it is not running."""
        agent = self.book.agent(agent_id)
        if agent is None:
            return False
        agent.cancel(reason)
        return True

    def cancel_task(self, task_id: str, reason: str) -> bool:
        """Cancel the agent running a task (and its subtree); ``False`` if none is."""
        agent = self.book.agent_on(task_id)
        if agent is None:
            return False
        agent.cancel(reason)
        return True

    def _on_write(self, entry: ev.Entry) -> None:
        if isinstance(entry.event, ev.McpStarted):
            self._forget_schemas()  # a restarted server may list other tools
        apply_live(self.state, entry)
        if self.on_event is not None:
            self.on_event(entry)

    # --- services for agents and tools --------------------------------------------------------

    def model_for(self, agent: Agent) -> ModelClient:
        """The model client for an agent (the scripted one plays the task's script)."""
        offline = None if self.replayer is None else self.replayer.model_for(agent)
        if offline is not None:
            return offline  # a regression replay: every response comes from the recording
        spec = agent.spec
        if is_scripted(agent.model_name):
            task = spec.task
            turns = (task.script if task.script is not None  # (shared, never changed)
                     else default_script(task.id, task.goal, has_parent=spec.depth > 0))
            return ScriptedModel(turns, name=agent.model_name)
        try:
            model = parse_model_spec(agent.model_name)
        except UserError as exc:
            raise ModelError(str(exc)) from None
        settings = self.plan.provider(model.base_url, model.provider)
        key = model.base_url or ""
        if key not in self._limiters:
            self._limiters[key] = (trio.CapacityLimiter(settings.concurrency
                                                        or DEFAULT_CONCURRENCY),
                                   RateLimiter(settings.requests_per_minute,
                                               settings.tokens_per_minute))
        limiter, rate = self._limiters[key]
        # Imported here: the providers' clients import httpx, which a scripted run never needs.
        from ..models.clients import open_client

        return open_client(model, settings, self.http.client(), limiter=limiter, rate=rate,
                           rng=self.rng, retries_left=lambda: agent.meter.remaining("retries"),
                           on_retry=agent.model_retry, on_delta=agent.model_delta)

    def model_settings_for(self, agent: Agent) -> ModelSettings:
        """The request settings for an agent's model: the plan's ``:model-settings`` entry,
        updated by its tier's, then by its task's. One object for every agent of a tier and
        model whose task has no settings of its own (the common case)."""
        tier = self.plan.tier_for(agent.spec.depth)
        own = agent.task.model_settings
        key = (tier.depth, agent.model_name)
        settings = None if own else self._settings.get(key)
        if settings is None:
            settings = ModelSettings()
            for table in (self.plan.model_settings, tier.model_settings, own):
                settings = settings.updated(by_model(table, agent.model_name))
            if not own:
                self._settings[key] = settings
        return settings

    def cost_of(self, model_name: str, prompt: int, completion: int) -> float:
        """Dollars for a call, from the plan's ``:prices`` (0 for unpriced models)."""
        price = by_model(self.plan.prices, model_name)
        return 0.0 if price is None else price.dollars(prompt, completion)

    def child_policy(self, parent: Policy, task: Task, depth: int) -> Policy:
        """:func:`~agenttree.policy.derive`, cached: siblings mostly share one policy."""
        key = (parent, depth, task.tools, task.model, task.approve)
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = derive(parent, self.plan, task, depth,
                                                  self.model_override)
        return policy

    def budget_wanted(self, task: Task, depth: int) -> dict[str, float]:
        """What a task asks for: its own ``:budget``, else its tier's if the tier is declared
        for exactly this depth (a tier's budget is per agent at its depth; deeper agents without
        a tier of their own get shares of their parent's)."""
        tier = self.plan.tier_for(depth)
        budget = task.budget
        if budget is None and tier.depth == depth:
            budget = tier.budget
        return {} if budget is None else budget_to_dict(budget)

    def system_prompt(self, agent: Agent, tools: frozenset[str]) -> str:
        """The system prompt ``agent``'s model gets, offered ``tools``: the tree protocol and
        the rules its ancestors imposed (:mod:`agenttree.prompt`; a subclass may give a plainer
        one)."""
        return system_prompt(agent=agent.id, parent=agent.parent, task=agent.task, tools=tools,
                             parts=agent.spec.prompts)

    def tool_schemas(self, tools: frozenset[str]) -> list[dict[str, Any]]:
        """The model-facing schemas of a tool set (cached: many agents share a set)."""
        schemas = self._schemas.get(tools)
        if schemas is None:
            named = {n for name in tools for n in self._expand(name)}
            schemas = self._schemas[tools] = [t.schema() for n in sorted(named)
                                              if (t := self.tool(n)) is not None]
        return schemas

    def tool_schema_names(self, tools: frozenset[str]) -> list[str]:
        """The plan's names of :meth:`tool_schemas` ``tools``, as ``model/requested`` logs them
        (cached with the schemas: an agent asks on every turn, and every event of a tool set
        holds the same list, which nobody changes)."""
        names = self._schema_names.get(tools)
        if names is None:
            names = self._schema_names[tools] = [
                self.plan_tool_name(t["function"]["name"]) for t in self.tool_schemas(tools)]
        return names

    def _forget_schemas(self) -> None:
        self._schemas.clear()
        self._schema_names.clear()

    def _expand(self, name: str) -> list[str]:
        """``server/*`` as the server's tools; any other name as itself."""
        server = server_of(name)
        if server is not None and name == all_of(server) and server in self.mcp:
            return list(self.mcp[server].tools)
        return [name]

    def tool(self, name: str) -> Tool | None:
        """The tool an agent's call names: a built-in, one the plan declares or an MCP
        server's (a subclass may offer more; the agent's policy still decides whether it may
        use one)."""
        server = server_of(name)
        if server is not None:
            connection = self.mcp.get(server)
            return None if connection is None else connection.tools.get(name)
        return REGISTRY.get(name) or self.custom_tools.get(name)

    def missing_tool(self, name: str) -> str:
        """Why a tool the agent's policy allows cannot be called (an MCP server's tool that
        the server does not offer)."""
        server = server_of(name)
        connection = None if server is None else self.mcp.get(server)
        if connection is None:
            return f"{name}: no such tool in this run"
        return connection.missing(name)

    def plan_tool_name(self, name: str) -> str:
        """A tool name as plans and logs spell it, from the name a model called it by (MCP
        tools are ``server__tool`` on the wire, ``server/tool`` in plans)."""
        return plan_tool_name(name, self.plan.mcp)

    async def run_command(self, agent: Agent, cmd: str, *, timeout_s: float | None,
                          env: dict[str, str] | None = None,
                          stdin: bytes | None = None) -> ExecResult:
        """Run ``/bin/sh -c cmd`` in the agent's working directory through :attr:`shell`, with
        ``env`` added to its environment and ``stdin`` as its input; its process group is
        logged (``process/started``) as it starts.

        Paths other agents hold locks on are guarded (:mod:`.lock_guard`): read-only inside
        the sandbox under ``:locks :required``, and each one the command changed anyway is
        logged as ``lock/unheld-write`` when it ends (also on timeout or cancel).
        """
        assert self.shell is not None, "commands run once the run has started"
        guard = await guard_command(self.locks, self.workspace, agent.id)
        read_only = guard.protectable() if self.plan.locks.mode == "required" else []

        groups: list[int] = []

        def started(pgid: int) -> None:
            groups.append(pgid)
            self._groups[pgid] = agent.id
            self.emit(ev.ProcessStarted(agent=agent.id, pgid=pgid, cmd=cmd))

        try:
            return await self.shell.exec(["/bin/sh", "-c", cmd], cwd=agent.task.cwd,
                                         env={**(env or {}), "AGENTTREE_AGENT": agent.id},
                                         stdin=stdin, timeout=timeout_s,
                                         read_only=read_only, on_start=started)
        finally:
            for pgid in groups:
                self._groups.pop(pgid, None)
            for path in guard.changed(self.workspace):
                self.emit(ev.LockUnheldWrite(agent=agent.id, path=path,
                                             holders=guard.holders[path], via="sh"))

    def report_crash(self, agent_id: str, text: str) -> None:
        """Keep the traceback of a bug that ended an agent (the agent fails; the run goes on)."""
        with open(self.run_dir / "crash.log", "a") as f:
            f.write(redact(f"--- {agent_id}\n{text}\n"))
