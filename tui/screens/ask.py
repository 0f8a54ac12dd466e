"""Small forms: a message to an agent, a budget grant, a reassignment, a denial's reason."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static

from agenttree.budget import check_budget
from agenttree.numbers import NumberError, parse_number

from .confirm import affected_text

GRANT_KINDS = ("tool-calls", "tokens", "retries", "cost")


def field(label: str, widget: Widget) -> Horizontal:
    """One line of a form: a label, then the input (borderless, so a form fits 80x24)."""
    return Horizontal(Static(label, classes="field-label"), widget, classes="field")


class FormScreen(ModalScreen[Any]):
    """A dialog with a title, fields, an error line, and OK/Cancel; subclasses build
    :meth:`fields` and :meth:`result` (which raises ``ValueError`` to show an error)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form-cancel"),
    ]

    def __init__(self, title: str, note: str = "") -> None:
        super().__init__()
        self.title_text, self.note = title, note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            if self.note:
                yield Static(self.note, classes="dialog-body")
            yield from self.fields()
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        """Start typing in the first field."""
        first = self.query(".field Input, .field Select").first()
        first.focus()

    def fields(self) -> ComposeResult:
        """The form's inputs."""
        yield from ()

    def result(self) -> Any:
        """What the form dismisses with; ``ValueError`` keeps it open with the message."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        try:
            value = self.result()
        except ValueError as exc:
            self.query_one("#form-error", Static).update(str(exc))
            return
        self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class MessageScreen(FormScreen):
    """Text for an agent's inbox; dismisses with the text."""

    def __init__(self, agent: str) -> None:
        super().__init__(f"Message to {agent}", "It arrives in the agent's inbox as a note "
                                                "from you (human).")

    def fields(self) -> ComposeResult:
        yield field("message", Input(placeholder="what to tell it", id="text", compact=True))

    def result(self) -> str:
        text = self.query_one("#text", Input).value.strip()
        if not text:
            raise ValueError("type a message first (esc to cancel)")
        return text


class DenyScreen(FormScreen):
    """Why a waiting call is denied (the model is told); dismisses with ``{"reason": text}``
    (``None`` for no reason given)."""

    def __init__(self, agent: str, tool: str, call: str) -> None:
        super().__init__(f"Deny {tool} call {call} of {agent}",
                         "The call does not run; the model gets a tool error with your reason.")

    def fields(self) -> ComposeResult:
        yield field("reason", Input(placeholder="optional: what the model is told",
                                    id="reason", compact=True))

    def result(self) -> dict[str, str | None]:
        return {"reason": self.query_one("#reason", Input).value.strip() or None}


class GrantScreen(FormScreen):
    """More budget for an agent, out of its parent's; dismisses with ``{kind: amount}``."""

    def __init__(self, agent: str, affected: list[str]) -> None:
        super().__init__(f"Grant budget to {agent}",
                         f"Affects {affected_text(affected)}. Leave a field empty to grant "
                         "none of that kind.")

    def fields(self) -> ComposeResult:
        for kind in GRANT_KINDS:
            yield field(kind, Input(placeholder="0", id=f"grant-{kind}", restrict=r"[0-9.]*",
                                    compact=True))

    def result(self) -> dict[str, float]:
        budget: dict[str, float] = {}
        for kind in GRANT_KINDS:
            raw = self.query_one(f"#grant-{kind}", Input).value.strip()
            if not raw:
                continue
            try:
                budget[kind] = parse_number(raw)
            except NumberError as exc:
                raise ValueError(f"{kind}: {exc}") from None
            if budget[kind] <= 0:
                raise ValueError(f"{kind}: a grant must be more than 0")
        if not budget:
            raise ValueError("grant at least one kind, e.g. tool-calls 3")
        try:
            return check_budget(budget)  # the checks every budget amount gets
        except NumberError as exc:
            raise ValueError(str(exc)) from None


class ReassignScreen(FormScreen):
    """Another model (from the agent's allowed ones) or another parent for a task; dismisses
    with ``{"model": M}`` and/or ``{"parent": P}`` (a task id). ``parents`` holds
    (agent id, task id) pairs; ``parent`` is the current parent's task id."""

    def __init__(self, agent: str, models: list[str], current: str,
                 parents: list[tuple[str, str]], parent: str | None) -> None:
        super().__init__(f"Reassign {agent}", "The task restarts with the new model or under "
                                               "the new parent; its transcript is summarised.")
        self.models, self.current, self.parents, self.old_parent = models, current, parents, parent

    def fields(self) -> ComposeResult:
        yield field("model", Select([(m, m) for m in self.models], value=self.current,
                                    allow_blank=False, id="model", compact=True))
        yield field("parent", Select(self.parents, value=self.old_parent or Select.BLANK,
                                     id="parent", allow_blank=self.old_parent is None,
                                     compact=True))

    def result(self) -> dict[str, str]:
        out: dict[str, str] = {}
        model = self.query_one("#model", Select).value
        parent = self.query_one("#parent", Select).value
        if isinstance(model, str) and model != self.current:
            out["model"] = model
        if isinstance(parent, str) and parent != self.old_parent:
            out["parent"] = parent
        if not out:
            raise ValueError("choose another model or another parent (esc to cancel)")
        return out
