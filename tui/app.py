"""The agenttree terminal UI: a live view of one run, drawn from its event log.

The app never shares memory with the engine. A thread worker tails ``events.jsonl`` and posts
batches of entries; a timer folds what arrived every :data:`FLUSH_S` into a
:class:`~tui.timeline.Timeline` and redraws inside one ``batch_update`` (no flicker, however fast
events come). Commands (cancel, grant, reassign, message, reconcile) are lines appended to
``control.jsonl``; their outcome is read back from the log like everything else, so what the
screen shows is always the folded log, never a guess.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, TabbedContent, TabPane, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from agenttree import events as ev
from agenttree.activity import Activity
from agenttree.collector import own_collector
from agenttree.control import (
    Answer,
    Approve,
    Cancel,
    Command,
    Deny,
    Grant,
    Message,
    Reassign,
    Reconcile,
    append_command,
    stage_plan,
)
from agenttree.errors import LogCorrupt, PlanError
from agenttree.events import Entry
from agenttree.log import Tailer
from agenttree.state import AgentView, RunState

from .conversation_log import ConversationFold, entries_naming
from .engine_proc import EngineProcess
from .entry_store import RECENT
from .event_filter import EventFilter
from .look import event_line, status_counts, vars_of
from .messages import CaughtUp, ConversationRead, EventsRead, PlanChecked, TailFailed
from .no_cycles import free_at_once
from .screens.ask import DenyScreen, GrantScreen, MessageScreen, ReassignScreen
from .screens.confirm import ConfirmScreen, affected_text
from .screens.info import InfoScreen, QuitScreen
from .screens.plan_editor import PlanEditorScreen
from .timeline import SNAPSHOT_EVERY, Timeline, apply_entry
from .widgets.activity_chart import ActivityChart
from .widgets.agent_tree import AgentTree
from .widgets.budgets_view import BudgetsView
from .widgets.conversation import ConversationView
from .widgets.event_list import MAX_LINES, EventList
from .widgets.events_strip import EventsStrip
from .widgets.locks_view import LocksView
from .widgets.plan_view import PlanView
from .widgets.run_header import RunHeader
from .widgets.scrubber import Scrubber
from .widgets.spending_chart import SpendingChart

free_at_once()  # Textual's strips and caches leave no cyclic garbage (tui/no_cycles.py)

W = TypeVar("W", bound=Widget)

TAIL_CHUNK = 1 << 20
"""Bytes the tail thread reads at a time: about 4,000 events of a typical log."""
FLUSH_S = 0.05
"""How often arrived events are folded and drawn."""
DRAW_S = 0.2
"""The screen follows new events at most this often: drawing a frame of a big run costs tens
of milliseconds, and keys must find the UI free (a key's own effect is drawn at once)."""
REFOLD_S = 0.005
"""While entries wait, the next fold comes this soon after the last (keys are handled first)."""
FOLD_SLICE = 500
"""Events folded at a time (between two looks at the clock)."""
FOLD_BUDGET_S = 0.02
"""Folding time a flush may take; the rest waits for the next flush, so keys go first."""
POLL_S = 0.1
"""How often the tail looks for new lines once it has caught up."""
ENGINE_GONE_S = 1.0
"""How long after the engine exits its log must be quiet before a missing end is reported."""
CATCH_UP_DRAW_S = 0.5
"""While a long log is being read, the screen is redrawn this often (folding goes on)."""
FIRST_PAINT_WAIT_S = 1.0
"""At most this long the tail waits for the first screen before reading on."""
BACKLOG = 100_000
"""Entries waiting to be folded before the tail thread pauses reading."""
PLAN_WAIT_S = 2.0
"""How long after reaching the end of a log without ``plan/loaded`` the plan file is parsed."""
CONVERSATION_SLICE = 2000
"""Entries the conversation thread folds between two looks at whether it is still wanted."""
GC_THRESHOLDS = (10_000, 10, 10)
"""The collector's thresholds while the app owns its process (``tune_gc``, set with
:func:`~agenttree.collector.own_collector`, which also freezes start-up): the young generation
is collected after 10,000 allocations rather than 700, so a full collection (which scanned
every long-lived object, ~0.3 s at 2,000 agents while keys waited) comes about every million
allocations instead of every 70,000; fewer, not longer (start-up is frozen)."""
ANSWERS = frozenset({ev.ControlApplied, ev.ControlRejected, ev.PlanLoaded, ev.RunFinished,
                     ev.PlanReconciled})
"""The events :meth:`AgentTreeApp._answers` tells the user about."""
TABS = ("conversation", "locks", "budgets", "events", "plan", "activity")
STEERING = frozenset({"cancel_agent", "grant", "reassign", "message", "reconcile", "approve",
                      "deny"})
"""Actions that change the run (refused read-only and while viewing the past)."""
MAIN_ONLY = STEERING | {"edit_plan", "travel", "live", "tab", "filter", "follow", "quit_tui"}
"""Actions of the main screen (inactive while a dialog is open)."""


class AgentTreeApp(App[str]):
    """``agenttree tui``: one run's agents, conversations, locks, budgets, events and plan.

    ``exit`` result: ``"stop"`` (the user chose to stop the run), ``"leave"`` (leave it running
    headless) or ``"quit"`` (nothing was running, or read-only).
    """

    CSS_PATH = "app.tcss"
    TITLE = "agenttree"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_tui", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("colon", "command_palette", "Commands", show=False, id="palette"),
        *(Binding(str(i), f"tab('{name}')", name.title(), show=False, id=f"tab-{name}")
          for i, name in enumerate(TABS, start=1)),
        Binding("x", "cancel_agent", "Cancel", id="cancel"),
        Binding("g", "grant", "Grant", id="grant"),
        Binding("r", "reassign", "Reassign", show=False, id="reassign"),
        Binding("m", "message", "Message", id="message"),
        Binding("a", "approve", "Approve", id="approve"),
        Binding("d", "deny", "Deny", id="deny"),
        Binding("e", "edit_plan", "Edit plan", id="edit-plan"),
        Binding("R", "reconcile", "Reconcile", show=False, id="reconcile"),
        Binding("left_square_bracket", "travel(-1)", "Back", id="back"),
        Binding("right_square_bracket", "travel(1)", "Fwd", id="forward"),
        Binding("left_curly_bracket", "travel(-10)", "Back 10", show=False, id="back-10"),
        Binding("right_curly_bracket", "travel(10)", "Fwd 10", show=False, id="forward-10"),
        Binding("L", "live", "Live", show=False, id="live"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("f", "follow", "Follow", show=False, id="follow"),
    ]

    def __init__(self, run_dir: Path, *, engine: EngineProcess | None = None,
                 readonly: bool = False, keymap: dict[str, str] | None = None,
                 theme: str | None = None, snapshot_every: int = SNAPSHOT_EVERY,
                 clock: Any = time.time, fold_budget_s: float = FOLD_BUDGET_S,
                 tune_gc: bool = False) -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # No sliding tab underline: each of its frames redraws much of a big run's
            # screen while keys wait (the user may still ask for animations).
            self.animation_level = "none"
        self.run_dir = run_dir
        self.engine = engine
        self.readonly = readonly
        self.timeline = Timeline(every=snapshot_every, path=self.events_path)
        self.activity = Activity()
        """Each agent's marks in time (the Activity tab and the Budget tab's pictures)."""
        self.view_seq: int | None = None
        """The seq being viewed; None means LIVE."""
        self.plan_draft: str | None = None
        """A checked plan from the editor that ``R`` has not applied yet."""
        self.fold_budget_s = fold_budget_s
        """Folding time a flush may take (:data:`FOLD_BUDGET_S`; 0: one slice a flush)."""
        self.tune_gc = tune_gc
        """Whether the app owns its process's garbage collector (``agenttree tui``): see
        :data:`GC_THRESHOLDS`."""
        self.metrics: dict[str, float] = {}
        """Seconds from start to ``first_paint`` and to ``caught_up`` (for the benchmark)."""
        self._key_overrides = dict(keymap or {})
        self._theme_name = theme
        self._clock = clock
        self._pending: list[Entry] = []
        self._pending_offsets: list[int] = []
        """The byte offsets in the log of the lines of :attr:`_pending`."""
        self._travel: RunState | None = None
        self._selected: str | None = None
        self._decidable = False
        """Whether the selected agent has a call waiting for approval (``a``/``d`` shown)."""
        self._tab = "conversation"
        self._conversation: ConversationFold | None = None
        """The whole conversation of the agent shown in the Chat tab, once folded."""
        self._folding: str | None = None
        """The agent whose conversation is being folded from the log (in a thread)."""
        self._conversation_behind = False
        """Whether the Chat tab waits for the log to be read to fold its agent again."""
        self._chat_queued = False
        """Whether the Chat tab is to show a newly selected agent after the next frame."""
        self._commands: dict[int, str] = {}
        self._caught_up = False
        self._stop = threading.Event()
        self._flush_timer: Timer | None = None
        self._refold: Timer | None = None
        self._dirty: set[str] = set()
        self._drawn_seq = 0
        self._drawn_at = 0.0
        self._painted_once = threading.Event()
        self._t0 = time.perf_counter()
        self._plan_status = "checking…"
        self._plan_checks = 0
        """Checks of the plan file started; a check's answer counts only if it is the last."""
        self._engine_gone = False
        self._engine_exit_seen: float | None = None

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            yield AgentTree(id="tree")
            with TabbedContent(id="tabs", initial="conversation"):
                with TabPane("1 Chat", id="conversation"):
                    yield ConversationView(id="conversation-view")
                with TabPane("2 Locks", id="locks"):
                    yield LocksView(id="locks-view")
                with TabPane("3 Budget", id="budgets"), VerticalScroll(id="budgets-scroll"):
                    yield BudgetsView(id="budgets-view")
                    yield SpendingChart(id="spending-chart")
                with TabPane("4 Events", id="events"):
                    yield EventList(id="agent-events")
                with TabPane("5 Plan", id="plan"):
                    yield PlanView(id="plan-view")
                with TabPane("6 Activity", id="activity"):
                    yield ActivityChart(id="activity-chart")
        yield Scrubber(id="scrubber")
        yield EventsStrip(id="strip")
        yield Footer()

    def on_mount(self) -> None:
        if self._theme_name:
            self.theme = self._theme_name
        if self._key_overrides:
            self.set_keymap(self._key_overrides)
        self._part("#strip", EventsStrip).border_title = "events"
        self._part("#tree", AgentTree).focus()
        self._render_view(None)
        if self.tune_gc:
            own_collector(GC_THRESHOLDS)  # frozen: imports and the widgets
        self._flush_timer = self.set_interval(FLUSH_S, self._apply_pending)
        self._tail()

    def _part(self, selector: str, kind: type[W]) -> W:
        """A widget of the main screen (``query_one`` would search a dialog while one is open)."""
        return self.screen_stack[0].query_one(selector, kind)

    def notify(self, message: str, *, markup: bool = False, **kwargs: Any) -> None:
        """Notifications show text as it is: reasons from the log may contain ``[``."""
        super().notify(message, markup=markup, **kwargs)

    # --- reading the log ------------------------------------------------------------------

    @property
    def events_path(self) -> Path:
        """The log being followed."""
        return self.run_dir / "events.jsonl"

    @work(thread=True, exclusive=True, group="tail", exit_on_error=False)
    def _tail(self) -> None:
        """Read the log in chunks and post them; then follow it. Runs in a thread."""
        worker = get_current_worker()
        # Chunked reads let the first screen paint from the start of a big recorded log.
        tail = Tailer(self.events_path, chunk=TAIL_CHUNK)
        caught_up = False
        offset = 0  # where the next line starts in the log
        while not worker.is_cancelled and not self._stop.is_set():
            if len(self._pending) > BACKLOG:  # the UI is behind: let it fold first
                self._stop.wait(FLUSH_S)
                continue
            try:
                read = tail.poll_lines()
            except LogCorrupt as exc:
                if exc.entries:  # what came before the bad line is shown
                    self.post_message(_events_read(exc.entries, offset))
                self.post_message(TailFailed(str(exc)))
                return
            if read:
                message = _events_read(read, offset)
                offset = message.offsets[-1] + len(read[-1][1]) + 1
                self.post_message(message)
                # Decoding competes with the UI thread for the GIL: let the first screen be
                # drawn before reading on.
                self._painted_once.wait(FIRST_PAINT_WAIT_S)
                continue
            if not caught_up:
                caught_up = True
                self.post_message(CaughtUp())
            self._stop.wait(POLL_S)

    @on(EventsRead)
    def _arrived(self, message: EventsRead) -> None:
        self._pending.extend(message.entries)
        self._pending_offsets.extend(message.offsets)
        if not self.timeline.entries:  # the first screen need not wait for the timer
            self._apply_pending()

    @on(CaughtUp)
    def _reached_end(self) -> None:
        self._caught_up = True
        if self._conversation_behind and not self._pending and not self._tearing_down():
            self._show_details(self.state, None)  # else the next draw does it
        # A live engine writes plan.edn and then logs plan/loaded: a check now would parse the
        # file the log is about to vouch for. A log that still has no plan by then gets one.
        self.set_timer(PLAN_WAIT_S, self._check_plan_if_unchecked)

    def _check_plan_if_unchecked(self) -> None:
        if not self._plan_checks and not self._tearing_down():
            self._check_plan_file()

    @on(TailFailed)
    def _tail_failed(self, message: TailFailed) -> None:
        self.notify(f"The log cannot be read further: {message.error}", title="log corrupt",
                    severity="error", timeout=30)

    @on(Worker.StateChanged)
    def _worker_changed(self, message: Worker.StateChanged) -> None:
        if message.state == WorkerState.ERROR:
            self.notify(f"{message.worker.name} failed: {message.worker.error}",
                        severity="error", timeout=30)

    def on_unmount(self) -> None:
        self._stop_feeding()

    def _stop_feeding(self) -> None:
        """Stop the flush timer and the tail worker: nothing arrives or is drawn any more."""
        self._stop.set()
        if self._flush_timer is not None:
            self._flush_timer.stop()
        self.workers.cancel_group(self, "tail")

    def _tearing_down(self) -> bool:
        """Whether the app is being torn down. Textual stops running the app before it
        removes any widget, so a timer tick or a batch of events that lands during teardown
        stops the feeding here and touches no widget."""
        if self.is_running and not self._stop.is_set() and self.screen_stack:
            return False
        self._stop_feeding()
        return True

    def _apply_pending(self) -> None:
        """Fold what arrived (every :data:`FLUSH_S`) and redraw (at most every
        :data:`DRAW_S`). At most :attr:`fold_budget_s` of folding a tick (a slice at least),
        so a burst or a long log is folded over several ticks and keys are handled in
        between; while the view is behind the log, the screen is redrawn only every
        :data:`CATCH_UP_DRAW_S`."""
        if self._tearing_down():
            return
        self._watch_engine()
        timeline = self.timeline
        if self._pending:
            first = not timeline.entries
            self._fold_slices()
            if self._pending and not self._refold:  # behind: fold on soon, after the keys
                self._refold = self.set_timer(REFOLD_S, self._fold_on)
            if first:
                self._set_start_t(timeline.entries[0].t)
            wait = CATCH_UP_DRAW_S if self._pending or not self._caught_up else DRAW_S
            if not first and time.perf_counter() - self._drawn_at < wait:
                return
        elif self._drawn_seq != timeline.last_seq:
            if time.perf_counter() - self._drawn_at < DRAW_S:
                return
        else:
            if self._caught_up and "caught_up" not in self.metrics:
                self.metrics["caught_up"] = time.perf_counter() - self._t0
            return
        if self.view_seq is None:
            with self.batch_update():
                self._render_view(self._dirty, self._drawn_seq)
        else:
            self._show_header(self.state)
        self._dirty = set()
        self._drawn_seq = timeline.last_seq
        self._drawn_at = time.perf_counter()
        if "first_paint" not in self.metrics:
            self.call_after_refresh(self._painted)

    def _fold_on(self) -> None:
        self._refold = None
        self._apply_pending()

    def _fold_slices(self) -> None:
        """Fold pending entries, :data:`FOLD_SLICE` at a time, until none are left or
        :attr:`fold_budget_s` is spent."""
        pending, offsets, timeline = self._pending, self._pending_offsets, self.timeline
        deadline = time.perf_counter() + self.fold_budget_s
        while pending:
            batch = pending[:FOLD_SLICE]
            del pending[:FOLD_SLICE]
            self._dirty |= timeline.extend(batch, offsets[:FOLD_SLICE])
            del offsets[:FOLD_SLICE]
            self.activity.extend(batch)
            self._answers(batch)
            if time.perf_counter() >= deadline:
                return

    def _painted(self) -> None:
        self.metrics.setdefault("first_paint", time.perf_counter() - self._t0)
        self._painted_once.set()

    def _set_start_t(self, t: int) -> None:
        for events in self.screen_stack[0].query(EventList):
            events.start_t = t

    def _watch_engine(self) -> None:
        engine = self.engine
        if engine is None or self._engine_gone or engine.running():
            return
        if self._engine_exit_seen is None:  # its last events may not be read yet
            self._engine_exit_seen = time.perf_counter()
        if self._pending or time.perf_counter() - self._engine_exit_seen < ENGINE_GONE_S:
            return
        self._engine_gone = True
        if self.timeline.live.status in ("pending", "running"):
            self.notify(f"The engine exited (status {engine.proc.returncode}) before the run "
                        f"finished; see {self.run_dir / 'engine.log'}", severity="error",
                        timeout=30)

    def _answers(self, batch: Iterable[Entry]) -> None:
        """Tell the user how the engine answered this UI's commands."""
        for entry in batch:
            event = entry.event
            if type(event) not in ANSWERS:
                continue  # nearly every event: a set lookup, not four isinstance checks
            if isinstance(event, ev.ControlApplied | ev.ControlRejected):
                what = self._commands.pop(event.line, None)
                if what is None:
                    continue
                answer = Answer.of(event)
                if answer.applied:
                    self.notify(answer.detail, title=f"{what}: done")
                else:
                    self.notify(answer.detail, title=f"{what}: refused", severity="error",
                                timeout=15)
            elif isinstance(event, ev.PlanLoaded):  # the engine has written plan.edn
                self._check_plan_file()
            elif isinstance(event, ev.RunFinished) and self._caught_up:
                self.notify(f"The run finished: {event.status}. Browse it as long as you like: "
                            "[ and ] step through its history, q quits.", title="run finished",
                            severity="information" if event.status == "done" else "warning",
                            timeout=10)
            elif isinstance(event, ev.PlanReconciled):
                self._check_plan_file()
                if "reconcile" in self._commands.values():  # the answer to this UI's R
                    self.push_screen(InfoScreen("The plan was reconciled: what changed",
                                                reconciled_text(event)))
                else:
                    self.notify(reconciled_text(event), title="plan changed")

    # --- drawing --------------------------------------------------------------------------

    @property
    def state(self) -> RunState:
        """The state on screen: live, or as of the viewed seq."""
        if self.view_seq is None or self._travel is None:
            return self.timeline.live
        return self._travel

    def _now_t(self, state: RunState) -> int:
        if self.view_seq is None and state.status == "running":
            return int(self._clock() * 1000)
        return state.t

    def _show_header(self, state: RunState) -> None:
        plan = self._plan_status
        if self.plan_draft is not None:
            plan = "✓ edited (R applies)"
        counts = self.timeline.counts if state is self.timeline.live else status_counts(state)
        self._part("#header", RunHeader).show(
            state, counts, viewing=self.view_seq, last_seq=self.timeline.last_seq, plan=plan,
            readonly=self.readonly)
        self._part("#scrubber", Scrubber).show(self.view_seq, self.timeline.last_seq)

    def _render_view(self, touched: set[str] | None, new_from: int | None = None) -> None:
        """Redraw from :attr:`state`; ``touched`` None means anything may have changed.
        ``new_from``: the index of the first entry not drawn yet (None: redraw the lists)."""
        state = self.state
        self._show_header(state)
        tree = self._part("#tree", AgentTree)
        tree.sync(state, touched)
        if tree.cursor_line < 0 and state.root is not None:
            tree.move_cursor(tree.root)
        strip = self._part("#strip", EventsStrip).events
        agent_events = self._part("#agent-events", EventList)
        if new_from is not None:
            # Not a slice: entries no longer held decoded would be read back from the log.
            strip.add_entries(self.timeline.entries, new_from)
            if self._part("#tabs", TabbedContent).active == "events":
                mine = self.timeline.agent_entries(self._selected or "", self.timeline.last_seq,
                                                   MAX_LINES)
                agent_events.add_entries([e for e in mine if e.seq > new_from], 0)
        else:
            strip.show_until(self.timeline.entries, self._seq)
            self._refill_agent_events()
        self._show_details(state, touched)

    @property
    def _seq(self) -> int:
        return self.timeline.last_seq if self.view_seq is None else self.view_seq

    def _refill_agent_events(self) -> None:
        """The Events tab: the selected agent's events (drawn only while the tab is shown)."""
        agent_events = self._part("#agent-events", EventList)
        agent_events.filter = EventFilter(agent=self._selected or "")
        if self._part("#tabs", TabbedContent).active == "events":
            agent_events.show_entries(self.timeline.agent_entries(
                self._selected or "", self._seq, MAX_LINES))

    def _show_details(self, state: RunState, touched: set[str] | None) -> None:
        selected = self._part("#tree", AgentTree).selected_agent
        moved = selected != self._selected
        if moved:
            self._selected = selected
            self._refill_agent_events()
            touched = None
        tab = self._part("#tabs", TabbedContent).active
        if tab != self._tab:
            self._tab = tab
            self._refill_agent_events()
            touched = None
            moved = False  # the tab's content is the key's effect: drawn in the same frame
        agent = state.agents.get(selected) if selected else None
        decidable = agent is not None and agent.waiting_call is not None
        if decidable != self._decidable:
            self._decidable = decidable
            self.refresh_bindings()  # a and d are in the footer only while there is a call
        if tab == "conversation" and moved:
            self._show_conversation_soon()
        elif tab == "conversation" and (touched is None or selected in touched
                                        or self._conversation_behind):
            self._show_conversation(agent)
        elif tab == "locks":
            self._part("#locks-view", LocksView).show(state, self._now_t(state))
        elif tab == "budgets":
            self._part("#budgets-view", BudgetsView).show(state, selected)
            self._part("#spending-chart", SpendingChart).show(state, self.activity, selected,
                                                              self._now_t(state))
        elif tab == "activity":
            chart = self._part("#activity-chart", ActivityChart)
            chart.show(state, self.activity, self._now_t(state), self.view_seq)
            if touched is None and selected:
                chart.select_agent(selected)
        elif tab == "plan":
            self._part("#plan-view", PlanView).show(state.plan_edn)

    def _show_conversation_soon(self) -> None:
        """The Chat tab of a newly selected agent, drawn after the frame that shows the cursor
        on it: the cursor answers the key at once, and while a key is held down only the
        agents the cursor rests on have their conversations built (a frame each)."""
        if not self._chat_queued:
            self._chat_queued = True
            self.call_after_refresh(self._show_conversation_now)

    def _show_conversation_now(self) -> None:
        self._chat_queued = False
        if self._tab == "conversation" and not self._tearing_down():
            self._show_conversation(self.state.agents.get(self._selected or ""))

    def _show_conversation(self, agent: AgentView | None) -> None:
        """The Chat tab: the agent's whole conversation as of the viewed seq. Folded from the
        log in a thread the first time (the tail the live state keeps is shown meanwhile),
        then kept up to date from the entries that arrive (folded again from the log if
        more arrived than are held decoded, as while a long log is read)."""
        view = self._part("#conversation-view", ConversationView)
        if agent is None:
            view.show(None)
            return
        streaming = self.timeline.streaming.get(agent.id, "") if self.view_seq is None else ""
        seq, whole = self._seq, self._conversation
        if whole is None or whole.agent != agent.id or not seq - RECENT <= whole.seq <= seq:
            if (self._pending or not self._caught_up) and self.view_seq is None and agent.id in (
                    self._folding, whole.agent if whole else None):
                # A long log is being read: read this agent's part of it again once it is,
                # not at every draw (each read goes through the whole log).
                self._conversation_behind = True
                return
            self._conversation_behind = False
            self._conversation = None
            self._folding = agent.id
            self._fold_conversation(agent.id, seq)
            view.show(agent, streaming, agent.conversation, whole=False)
            return
        whole.extend(self.timeline.entries.between(whole.seq, seq))
        view.show(agent, streaming, whole.items)

    @work(thread=True, exclusive=True, group="conversation", exit_on_error=False)
    def _fold_conversation(self, agent: str, seq: int) -> None:
        """Fold ``agent``'s conversation up to ``seq`` from the log. Runs in a thread; stops
        early once another agent or time is asked for (this worker is then cancelled)."""
        worker, conversation = get_current_worker(), ConversationFold(agent)
        entries = entries_naming(self.events_path, agent, seq)
        while not worker.is_cancelled:
            batch = list(islice(entries, CONVERSATION_SLICE))
            if not batch:
                self.post_message(ConversationRead(conversation.skip_to(seq)))
                return
            conversation.extend(batch)

    @on(ConversationRead)
    def _conversation_read(self, message: ConversationRead) -> None:
        conversation = message.conversation
        if conversation.agent == self._folding:
            self._folding = None
        if self._tearing_down() or conversation.agent != self._selected \
                or conversation.seq > self._seq:
            return  # another agent or an earlier time is shown now
        self._conversation = conversation
        if self._tab == "conversation":
            self._show_conversation(self.state.agents.get(conversation.agent))

    @on(Tree.NodeHighlighted, "#tree")
    def _highlighted(self) -> None:
        self._show_details(self.state, None)

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_changed(self) -> None:
        self._show_details(self.state, None)

    @on(ActivityChart.MarkOpened)
    def _mark_opened(self, message: ActivityChart.MarkOpened) -> None:
        """A mark of the Activity tab was opened: show its event in full."""
        entry = self.timeline.entries[message.seq - 1]
        start_t = self.timeline.entries[0].t
        fields = "\n".join(f"{k}: {v}" for k, v in vars_of(entry.event).items())
        self.push_screen(InfoScreen(f"Event {entry.seq}", f"{event_line(entry, start_t)}\n\n"
                                                          f"{fields}"))

    @on(EventsStrip.FilterChanged)
    def _filter_changed(self) -> None:
        self._part("#strip", EventsStrip).events.show_until(self.timeline.entries, self._seq)

    # --- time travel ----------------------------------------------------------------------

    def action_travel(self, step: int) -> None:
        """Move the view ``step`` events back (negative) or forward; past the end is LIVE."""
        last = self.timeline.last_seq
        base = last if self.view_seq is None else self.view_seq
        target = base + step
        self.goto(None if target >= last else max(0, target))

    def action_live(self) -> None:
        """Back to the live state."""
        self.goto(None)

    def goto(self, seq: int | None) -> None:
        """Show the state as of ``seq`` (None: live). Everything on screen follows."""
        if seq == self.view_seq:
            return
        if seq is None:
            self._travel = None
        elif self._travel is not None and self.view_seq is not None and seq > self.view_seq:
            for entry in self.timeline.entries.between(self.view_seq, seq):  # forward: in place
                apply_entry(self._travel, entry)
        else:
            self._travel = self.timeline.state_at(seq)
        self.view_seq = seq
        with self.batch_update():
            self._render_view(None)
        self._dirty = set()
        self._drawn_seq = self.timeline.last_seq

    # --- steering the run -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Main-screen keys do nothing while a dialog is open; ``a`` and ``d`` only while the
        selected agent has a call waiting for approval."""
        if action in ("approve", "deny") and not self._decidable:
            return False
        return action not in MAIN_ONLY or self.screen is self.screen_stack[0]

    def _steerable(self) -> bool:
        if self.readonly:
            self.notify("Read-only: this view cannot change the run.", severity="warning")
            return False
        if self.view_seq is not None:
            self.notify("You are viewing the past: press L to go live first.",
                        severity="warning")
            return False
        return True

    def _selected_running(self, verb: str) -> str | None:
        agent_id = self._part("#tree", AgentTree).selected_agent
        agent = self.state.agents.get(agent_id) if agent_id else None
        if agent is None:
            self.notify("Select an agent first.", severity="warning")
            return None
        if agent.finished and verb != "grant":
            self.notify(f"{agent_id} has finished ({agent.status}); nothing to {verb}.",
                        severity="warning")
            return None
        return agent.id

    def send(self, command: Command, what: str) -> int:
        """Append a command to ``control.jsonl``; the engine's answer is shown when it comes."""
        line = append_command(self.run_dir, command)
        self._commands[line] = what
        self.notify(f"{what} (control line {line})", title="sent")
        return line

    def action_cancel_agent(self) -> None:
        """``x``: cancel the selected agent's subtree, after a confirmation."""
        if not self._steerable() or (agent_id := self._selected_running("cancel")) is None:
            return
        state = self.state
        affected = [a for a in state.subtree(agent_id) if not state.agents[a].finished]

        def answered(yes: bool | None) -> None:
            if yes:
                self.send(Cancel(agent=agent_id), f"cancel {agent_id}")

        self.push_screen(ConfirmScreen(f"Cancel {agent_id} and its subtree?",
                                       f"This stops {affected_text(affected)}.",
                                       yes="Cancel them"), answered)

    def action_grant(self) -> None:
        """``g``: give the selected agent more budget out of its parent's."""
        if not self._steerable() or (agent_id := self._selected_running("grant")) is None:
            return

        def confirmed(budget: dict[str, float], yes: bool | None) -> None:
            if yes:
                self.send(Grant(agent=agent_id, budget=budget), f"grant {agent_id}")

        def filled(budget: dict[str, float] | None) -> None:
            if budget:
                what = ", ".join(f"{k} {v:g}" for k, v in budget.items())
                self.push_screen(
                    ConfirmScreen(f"Grant {what} to {agent_id}?",
                                  f"Affects {affected_text([agent_id])}; it comes out of "
                                  f"{self.state.agents[agent_id].parent or 'nobody'}'s budget.",
                                  yes="Grant"),
                    lambda yes: confirmed(budget, yes))

        self.push_screen(GrantScreen(agent_id, [agent_id]), filled)

    def action_reassign(self) -> None:
        """``r``: restart the selected agent's task with another model or under another parent."""
        if not self._steerable() or (agent_id := self._selected_running("reassign")) is None:
            return
        state = self.state
        agent = state.agents[agent_id]
        models = list(dict.fromkeys([agent.model, *agent.models]))
        inside = set(state.subtree(agent_id))
        parents = [(a, state.agents[a].task) for a in state.agents
                   if a not in inside and not state.agents[a].finished]
        parent = state.agents[agent.parent].task if agent.parent else None

        def chosen(choice: dict[str, str] | None) -> None:
            if choice:
                self.send(Reassign(task=agent.task, **choice), f"reassign {agent.task}")

        self.push_screen(ReassignScreen(agent_id, models, agent.model, parents, parent), chosen)

    def _waiting_call(self) -> tuple[str, str, str] | None:
        """The selected agent's call that waits for approval: (agent, call, tool)."""
        if (agent_id := self._selected_running("decide on")) is None:
            return None
        call = self.state.agents[agent_id].waiting_call
        if call is None:
            self.notify(f"{agent_id} has no call waiting for approval.", severity="warning")
            return None
        return agent_id, call, self.state.approvals[call]["tool"]

    def action_approve(self) -> None:
        """``a``: let the selected agent's waiting call run, after a confirmation."""
        if not self._steerable() or (waiting := self._waiting_call()) is None:
            return
        agent_id, call, tool = waiting
        args = json.dumps(self.state.approvals[call].get("args") or {}, ensure_ascii=False,
                          indent=1)

        def answered(yes: bool | None) -> None:
            if yes:
                self.send(Approve(call=call), f"approve {call}")

        self.push_screen(ConfirmScreen(f"Approve {tool} call {call} of {agent_id}?",
                                       f"Arguments:\n{args[:2000]}", yes="Approve"), answered)

    def action_deny(self) -> None:
        """``d``: refuse the selected agent's waiting call, with an optional reason."""
        if not self._steerable() or (waiting := self._waiting_call()) is None:
            return
        agent_id, call, tool = waiting

        def filled(answer: dict[str, str | None] | None) -> None:
            if answer is not None:
                self.send(Deny(call=call, reason=answer["reason"]), f"deny {call}")

        self.push_screen(DenyScreen(agent_id, tool, call), filled)

    def action_message(self) -> None:
        """``m``: put a note into the selected agent's inbox."""
        if not self._steerable() or (agent_id := self._selected_running("message")) is None:
            return

        def typed(text: str | None) -> None:
            if text:
                self.send(Message(agent=agent_id, text=text), f"message to {agent_id}")

        self.push_screen(MessageScreen(agent_id), typed)

    # --- the plan -------------------------------------------------------------------------

    @property
    def plan_path(self) -> Path:
        """The plan file the run follows (what ``reconcile`` re-reads)."""
        return self.run_dir / "plan.edn"

    def _check_plan_file(self) -> None:
        """Find out whether the plan file is valid, for the header. When it holds the plan the
        log says is in force (the engine wrote it) it is, and nothing is parsed; otherwise (an
        edit on disk) it is parsed in a thread: a plan of thousands of tasks takes seconds."""
        self._plan_checks += 1
        try:
            text = self.plan_path.read_text()
        except FileNotFoundError:
            self._plan_status = "none yet"
            return
        except (OSError, UnicodeDecodeError):
            self._plan_status = "✗"
            return
        if text and text == self.timeline.live.plan_edn:
            self._plan_status = "✓"
            return
        self._plan_status = "checking…"
        self._parse_plan_file(text, self._plan_checks)

    @work(thread=True, exclusive=True, group="plan-check", exit_on_error=False)
    def _parse_plan_file(self, text: str, check: int) -> None:
        """Parse the plan file's text (in a thread) and post what the header should say."""
        # Imported when needed: the EDN parser is ~6 MB of memory, rarely used here.
        from agenttree.plan import parse_plan

        try:
            parse_plan(text, source=str(self.plan_path))
        except PlanError as exc:
            line = getattr(exc, "line", None)
            status = f"✗ line {line}" if line else "✗"
        else:
            status = "✓"
        self.post_message(PlanChecked(status, check))

    @on(PlanChecked)
    def _plan_checked(self, message: PlanChecked) -> None:
        if message.check != self._plan_checks or self._tearing_down():
            return  # a later check is under way, or the app is going
        self._plan_status = message.status
        if self.view_seq is None:
            self._show_header(self.state)

    def action_edit_plan(self) -> None:
        """``e``: edit the plan; saving checks it, ``R`` applies it."""
        text = self.plan_draft if self.plan_draft is not None else self.timeline.live.plan_edn

        def saved(new: str | None) -> None:
            if new is not None:
                self.plan_draft = new
                self.notify("The plan is valid. Press R to apply it to the run.",
                            title="plan checked")
                self._show_header(self.state)

        self.push_screen(PlanEditorScreen(text, str(self.plan_path)), saved)

    def action_reconcile(self) -> None:
        """``R``: stage the edited plan for the engine and ask it to follow it (the engine
        writes RUN_DIR/plan.edn once the plan is applied)."""
        if not self._steerable():
            return
        draft = self.plan_draft
        if draft is None:
            body = f"No edit pending: the engine re-reads {self.plan_path} as it is on disk."
        else:
            body = plan_change(self.timeline.live.plan_edn, draft, str(self.plan_path))

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            digest = None
            if draft is not None:
                digest = stage_plan(self.run_dir, draft)
                self.plan_draft = None
            self.send(Reconcile(plan=digest), "reconcile")
            self._show_details(self.state, None)
            self._show_header(self.state)

        self.push_screen(ConfirmScreen("Apply the plan to the running tree?", body,
                                       yes="Reconcile"), answered)

    # --- the rest of the keys -------------------------------------------------------------

    def action_tab(self, name: str) -> None:
        """``1``-``5``: show a detail tab."""
        self._part("#tabs", TabbedContent).active = name
        if name == "activity":  # its keys (rows, marks, zoom) work at once
            self._part("#activity-chart", ActivityChart).focus()

    def action_filter(self) -> None:
        """``/``: filter the events strip."""
        self._part("#strip", EventsStrip).open_filter()

    def action_follow(self) -> None:
        """``f``: follow the end of the events strip, or stop following."""
        events = self._part("#strip", EventsStrip).events
        events.follow = not events.follow
        self.notify(f"events strip: follow {'on' if events.follow else 'off'}")

    def action_help(self) -> None:
        """``?``: the keys of the focused panel and the app (again to hide)."""
        # Imported when first asked for: the panel brings a Markdown parser (~3 MB).
        from textual.widgets import HelpPanel

        if self.screen.query(HelpPanel):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_quit_tui(self) -> None:
        """``q``: quit; if the run is still going, ask whether to stop it or leave it."""
        status = self.timeline.live.status
        if self.engine is not None:
            going = status in ("pending", "running") and self.engine.running()
        else:
            going = status == "running"
        if self.readonly or not going:
            self.exit("quit")
            return

        def answered(choice: str | None) -> None:
            if choice in ("stop", "leave"):
                self.exit(choice)

        self.push_screen(QuitScreen(str(self.run_dir)), answered)

    async def action_quit(self) -> None:
        """Textual's own quit (``ctrl+q``, the palette) asks the same question as ``q``."""
        self.action_quit_tui()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette (``:``): every action, by name."""
        yield from super().get_system_commands(screen)
        for title, help_text, action in (
            ("Cancel agent", "Cancel the selected agent and its subtree", "cancel_agent"),
            ("Grant budget", "Give the selected agent more budget", "grant"),
            ("Reassign", "Another model or parent for the selected task", "reassign"),
            ("Message agent", "Put a note into the selected agent's inbox", "message"),
            ("Approve call", "Let the selected agent's waiting call run", "approve"),
            ("Deny call", "Refuse the selected agent's waiting call", "deny"),
            ("Edit plan", "Open the plan editor", "edit_plan"),
            ("Reconcile", "Apply the edited plan to the run", "reconcile"),
            ("Go live", "Leave time travel", "live"),
            ("Filter events", "Filter the events strip", "filter"),
            ("Follow events", "Toggle following the events strip", "follow"),
        ):
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))


def _events_read(read: list[tuple[Entry, bytes]], offset: int) -> EventsRead:
    """The message for entries read with their lines, the first line starting at ``offset``."""
    offsets = []
    for _, line in read:
        offsets.append(offset)
        offset += len(line) + 1
    return EventsRead([entry for entry, _ in read], offsets)


def reconciled_text(event: ev.PlanReconciled) -> str:
    """The diff of a ``plan/reconciled`` event, a line per kind of change."""
    diff = event.diff
    lines = [f"by: {event.by}"]
    for key in ("added", "removed", "changed", "moved"):
        value = diff.get(key) or []
        lines.append(f"{key}: {', '.join(map(str, value)) if value else 'none'}")
    if diff.get("settings"):
        lines.append(f"plan-wide settings: {diff['settings']}")
    return "\n".join(lines)


def plan_change(old: str, new: str, source: str) -> str:
    """What applying ``new`` over ``old`` would do to the tasks (the engine's own
    :func:`~agenttree.plan_diff.diff_plans`, by ``:task/id``)."""
    from agenttree.plan import parse_plan  # imported when needed (as in _parse_plan_file)
    from agenttree.plan_diff import PlanDiff, diff_plans

    after = parse_plan(new, source=source)
    try:
        diff = diff_plans(parse_plan(old, source=source), after)
    except PlanError:  # no valid plan before: every task is new
        diff = PlanDiff(added=tuple(task.id for task, _, _ in after.walk()))
    lines = [f"new tasks (spawned): {', '.join(diff.added) or 'none'}",
             f"removed tasks (cancelled): {', '.join(diff.removed) or 'none'}",
             f"changed tasks (restarted): {', '.join(diff.changed) or 'none'}",
             f"moved tasks (restarted under their new parent): "
             f"{', '.join(diff.moved) or 'none'}"]
    if diff.settings:
        lines.append("plan-wide settings (tiers, models, locks...) change too.")
    lines.append("Unchanged tasks are untouched.")
    return "\n".join(lines)
