"""Numbers from outside (plans, control commands, the CLI, models' tool arguments): one check.

Every number that enters a run passes :func:`check_number` (a setting) or
:func:`check_json` (free-form data such as tool arguments), so nothing later — the meters, the
log writer, the JSON readers, a browser — meets a value it cannot hold:

* a number is an ``int`` or a ``float`` (``true``/``false`` are not numbers);
* it is finite (no NaN, no infinity: ``1e999`` reads as infinity);
* its magnitude is at most :data:`LIMIT` (2^53 - 1, the largest whole number every JSON
  reader, JavaScript's included, holds exactly; far inside 64 bits);
* a whole-number setting is a whole number (``5`` or ``5.0``, never ``0.5``);
* free-form data nests at most :data:`MAX_NESTING` levels.

The checks raise :class:`NumberError` with a message that reads after the setting's name
(``"tool-calls: must be a whole number, got 0.5"``); each input surface turns it into its own
error (a plan error with file and line, a rejected control command, a CLI error, a tool error
the model sees).
"""

from __future__ import annotations

import math
from typing import Any

LIMIT = 2**53 - 1
"""The largest magnitude a number may have (9,007,199,254,740,991)."""
MAX_NESTING = 64
"""The deepest free-form data (objects and arrays inside each other) that is accepted."""


class NumberError(ValueError):
    """A number (or data holding one) that is not acceptable; the message says why."""


def check_number(value: Any, *, whole: bool = False, minimum: float | None = 0,
                 above: float | None = None) -> int | float:
    """``value`` if it is an acceptable number (a whole one as an ``int``).

    Args:
        whole: it must be a whole number (``5.0`` is returned as ``5``).
        minimum: the smallest value allowed (``None``: down to ``-LIMIT``).
        above: the value must be greater than this (e.g. ``0`` for a positive timeout).

    Raises:
        NumberError: not a number, not finite, too large, not whole, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NumberError(f"expected a {'whole ' if whole else ''}number, got "
                          f"{_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise NumberError(f"must be a finite number, got {value}")
    if abs(value) > LIMIT:
        raise NumberError(f"must be at most {LIMIT:,} in size, got {_show(value)}")
    if whole and isinstance(value, float):
        if not value.is_integer():
            raise NumberError(f"expected a whole number, got {value}")
        value = int(value)
    if minimum is not None and value < minimum:
        raise NumberError(f"must not be negative, got {_show(value)}" if minimum == 0
                          else f"must be at least {minimum:g}, got {_show(value)}")
    if above is not None and value <= above:
        raise NumberError(f"must be positive, got {_show(value)}" if above == 0
                          else f"must be more than {above:g}, got {_show(value)}")
    return value


def check_json(value: Any, where: str = "") -> None:
    """Check free-form JSON-like data: every number in it passes :func:`check_number` (any
    sign), and it nests at most :data:`MAX_NESTING` levels.

    Raises:
        NumberError: naming the path to the bad value (``where`` is its prefix).
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= MAX_NESTING:
                raise NumberError(f"{path or 'the value'}: nests deeper than {MAX_NESTING} "
                                  "levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in pairs
                         if not isinstance(v, str | bool | None))  # (nothing to check)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            try:
                check_number(item, minimum=None)
            except NumberError as exc:
                raise NumberError(f"{path or 'the value'}: {exc}") from None


def parse_number(text: str) -> int | float:
    """A number typed by a person (``5``, ``0.5``, ``1e3``), checked as :func:`check_number`
    checks any number (of any sign).

    Raises:
        NumberError: not a number, or not an acceptable one (``inf``, ``nan``, too large).
    """
    try:
        value: int | float = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise NumberError(f"{text!r} is not a number") from None
    return check_number(value, minimum=None)


def _show(value: int | float) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}…({len(text)} digits)"


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value).lower().replace("none", "null")
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    return type(value).__name__
