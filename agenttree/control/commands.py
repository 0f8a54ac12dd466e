"""Control commands: the typed records a client appends to ``RUN_DIR/control.jsonl``, and
their wire format (beside :mod:`agenttree.events`, the one place that knows it).

On the wire a command is one compact JSON object a line, tagged by ``"cmd"`` (first), with
its fields; a field left at its default is left out::

    {"cmd":"cancel","agent":"root.lib"}
    {"cmd":"message","agent":"root.lib","text":"use tabs, not spaces"}
    {"cmd":"reassign","task":"lib","model":"openai:gpt-4o-mini","parent":"root"}
    {"cmd":"reconcile"}                          re-read RUN_DIR/plan.edn and follow it
    {"cmd":"reconcile","plan":"<sha256>"}        follow RUN_DIR/plans/<sha256>/plan.edn
    {"cmd":"grant","agent":"root.lib","budget":{"tool-calls":5,"tokens":20000}}
    {"cmd":"approve","call":"root.lib#3.0"}      let a call that waits for a person run
    {"cmd":"deny","call":"root.lib#3.0","reason":"not on main"}

:func:`decode_command` reads any such line, however it was written (``echo >>``, an older
client, the web page): unknown keys are ignored, a field may be ``null`` where it is optional.
Everything a command must be is checked where the record is made, so a client that builds
one and the engine that decodes one refuse the same things with the same words
(:class:`CommandError`).

See docs/control.md.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import orjson

from ..budget import check_budget
from ..errors import UserError
from ..numbers import NumberError

if TYPE_CHECKING:
    import cattrs

MAX_COMMAND = 1 << 16
"""Longest accepted command line, in bytes."""
STAGED = "plans"
"""Where clients stage a plan for ``reconcile`` (``RUN_DIR/plans/<sha256>/plan.edn``)."""
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_TEXT = "a non-empty string"


class CommandError(UserError):
    """A command that is not well-formed; the message says why. ``cmd`` is its tag, when it
    has one (the engine names it in ``control/rejected``)."""

    def __init__(self, message: str, cmd: str = "") -> None:
        super().__init__(message)
        self.cmd = cmd


def _needs(instance: Any, attribute: attrs.Attribute[Any]) -> CommandError:
    cmd = type(instance).CMD
    return CommandError(f"{cmd!r} needs {attribute.name!r} ({attribute.metadata['needs']})",
                        cmd)


def _text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise _needs(instance, attribute)


def _optional_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _text(instance, attribute, value)


def _text_field() -> Any:
    return attrs.field(validator=_text, metadata={"needs": _TEXT})


def _optional_text_field() -> Any:
    return attrs.field(default=None, validator=_optional_text, metadata={"needs": _TEXT})


@attrs.frozen(kw_only=True)
class Cancel:
    """Cancel an agent and its subtree."""

    CMD: ClassVar[str] = "cancel"
    agent: str = _text_field()


@attrs.frozen(kw_only=True)
class Message:
    """Put a note from a person into a running agent's inbox."""

    CMD: ClassVar[str] = "message"
    agent: str = _text_field()
    text: str = _text_field()


@attrs.frozen(kw_only=True)
class Reassign:
    """Restart a task of the plan, on another ``model`` and/or under another ``parent`` task
    (neither: restart it as it is)."""

    CMD: ClassVar[str] = "reassign"
    task: str = _text_field()
    model: str | None = _optional_text_field()
    parent: str | None = _optional_text_field()


def _digest(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (isinstance(value, str) and _DIGEST.match(value)):
        raise CommandError("'plan' names a staged plan by its sha256 (64 hex digits)",
                           type(instance).CMD)


@attrs.frozen(kw_only=True)
class Reconcile:
    """Follow a new plan: the one staged under ``plan`` (its sha256, see
    :func:`agenttree.control.client.stage_plan`), or ``RUN_DIR/plan.edn`` as it is on disk."""

    CMD: ClassVar[str] = "reconcile"
    plan: str | None = attrs.field(default=None, validator=_digest,
                                   metadata={"needs": "a sha256"})


def _grant_budget(raw: Any) -> dict[str, int | float]:
    """A grant's amounts, checked (keys kept as given: ``tool-calls`` or ``tool_calls``)."""
    if not isinstance(raw, dict) or not raw:
        raise CommandError("'grant' needs 'budget', an object such as {\"tool-calls\": 5}",
                           "grant")
    try:
        budget = check_budget(raw)
    except NumberError as exc:
        raise CommandError(f"budget: {exc}", "grant") from None
    if any(str(kind).replace("-", "_") == "wall_s" for kind in budget):
        raise CommandError("wall-s cannot be granted (a deadline is set when an agent starts)",
                           "grant")
    return budget


@attrs.frozen(kw_only=True)
class Grant:
    """Give an agent more budget (its ancestors' limits rise as much); amounts by kind, as
    plans spell them (``{"tool-calls": 5}``)."""

    CMD: ClassVar[str] = "grant"
    agent: str = _text_field()
    budget: dict[str, int | float] = attrs.field(
        converter=_grant_budget, metadata={"needs": 'an object such as {"tool-calls": 5}'})


@attrs.frozen(kw_only=True)
class Approve:
    """Let a tool call that waits for a person (``:approve`` in the plan) run."""

    CMD: ClassVar[str] = "approve"
    call: str = _text_field()


@attrs.frozen(kw_only=True)
class Deny:
    """Refuse a tool call that waits for a person; the model gets a tool error with
    ``reason``."""

    CMD: ClassVar[str] = "deny"
    call: str = _text_field()
    reason: str | None = _optional_text_field()


Command = Cancel | Message | Reassign | Reconcile | Grant | Approve | Deny
"""Any control command."""
COMMANDS: dict[str, type[Command]] = {cls.CMD: cls for cls in Command.__args__}
"""Command tag -> record class."""


def _passthrough(value: Any, _: Any) -> Any:
    return value


@functools.cache
def _converter() -> cattrs.Converter:
    """The converter that structures a command (made when first needed: a client that only
    appends commands never imports cattrs)."""
    import cattrs
    from cattrs.gen import make_dict_structure_fn, override
    from cattrs.strategies import configure_tagged_union

    converter = cattrs.Converter(detailed_validation=False)
    for cls in COMMANDS.values():
        # Values are JSON already and every check is the record's own (its validators), so the
        # converter passes them through: a client's record and a decoded line are checked
        # alike.
        converter.register_structure_hook(cls, make_dict_structure_fn(
            cls, converter, **{f.name: override(struct_hook=_passthrough)
                               for f in attrs.fields(cls)}))
    configure_tagged_union(Command, converter, tag_name="cmd", tag_generator=lambda c: c.CMD)
    return converter


def parse_command(data: Any) -> Command:
    """A command from a parsed JSON value.

    Raises:
        CommandError: not an object, no or an unknown ``cmd``, or a field missing or wrong.
    """
    if not isinstance(data, dict):
        raise CommandError(f"a command is a JSON object, got {type(data).__name__}")
    cmd = data.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise CommandError(f'a command needs "cmd" (a non-empty string: one of '
                           f'{", ".join(COMMANDS)})')
    cls = COMMANDS.get(cmd)
    if cls is None:
        raise CommandError(f"unknown command {cmd!r}; this engine knows: "
                           f"{', '.join(COMMANDS)}", cmd)
    present = {k: v for k, v in data.items() if v is not None}  # null: an optional left out
    try:
        return _converter().structure(present, Command)
    except KeyError as exc:  # a required field is missing
        field = attrs.fields_dict(cls)[exc.args[0]]
        raise CommandError(f"{cmd!r} needs {field.name!r} ({field.metadata['needs']})",
                           cmd) from None


def decode_command(line: bytes | str) -> Command:
    """A command from one line of ``control.jsonl`` (without its newline).

    Raises:
        CommandError: longer than :data:`MAX_COMMAND` bytes, not JSON, or not a command.
    """
    if len(line) > MAX_COMMAND:
        raise CommandError(f"a command is at most {MAX_COMMAND} bytes; this line is longer")
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"not JSON: {exc}") from None
    return parse_command(data)


def encode_command(command: Command) -> bytes:
    """One command as its line (without the newline): ``cmd`` first, defaults left out."""
    fields = {f.name: getattr(command, f.name) for f in attrs.fields(type(command))
              if getattr(command, f.name) != f.default}
    return orjson.dumps({"cmd": command.CMD, **fields})
