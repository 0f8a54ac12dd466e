"""How one argument value the model sent is compared with an acceptable answer.

Every string is normalised before it is compared, in the way its parameter's ``:match`` kind says
(``suites/tool_calling/tools.edn``; docs/bench.md, "How calls are matched"):

- ``text`` (the default): Unicode NFKC, case folded, white space and punctuation removed, so
  ``"Call mom."`` matches ``"call mom"`` (BFCL's string standardisation);
- ``place``: as text, but only the part before the first comma: ``"Tokyo, Japan"`` is ``"Tokyo"``;
- ``path``: surrounding white space, a leading ``./`` and trailing ``/`` removed (``"src/"`` is
  ``"src"``); case kept, since paths are case-sensitive;
- ``timezone``: an IANA alias is its zone (``"Etc/UTC"`` and ``"Zulu"`` are ``"UTC"``,
  ``"US/Eastern"`` is ``"America/New_York"``): a link in the IANA database whose name is not a
  country's own zone in ``zone.tab`` (so ``Europe/Oslo``, which newer databases link to
  ``Europe/Berlin``, stays Oslo). The database is the ``tzdata`` package, the same on every
  machine;
- ``unordered``: a list whose order does not matter (compared as a multiset of text values).

Numbers compare by value (``6`` matches ``6.0``), a bool is never a number, and a value of the
wrong JSON type is ``wrong-type`` (a numeric string is not coerced); the right type with another
value is ``wrong-value``.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from importlib.resources import files
from typing import Any

MATCH_KINDS = ("text", "place", "path", "timezone", "unordered")
_DROP = re.compile(r"[\W_]+")
"""White space and punctuation (everything but letters and digits)."""


def normalise(text: str, kind: str = "text") -> str:
    """``text`` as the ``kind`` of comparison sees it."""
    if kind == "path":
        text = text.strip()
        while text.startswith("./"):
            text = text[2:]
        return text.rstrip("/") or text
    if kind == "timezone":
        return canonical_zone(text.strip())
    if kind == "place":
        text = text.partition(",")[0]
    return _DROP.sub("", unicodedata.normalize("NFKC", text).casefold())


@functools.cache
def _zone_aliases() -> dict[str, str]:
    """Case-folded alias name -> its zone, from the ``tzdata`` package's database."""
    root = files("tzdata.zoneinfo")
    own = {line.split("\t")[2] for line in (root / "zone.tab").read_text().splitlines()
           if line and not line.startswith("#")}
    aliases = {}
    for line in (root / "tzdata.zi").read_text().splitlines():
        if line.startswith("L "):
            _, target, name = line.split()
            if name not in own:
                aliases[name.casefold()] = target
    return aliases


def canonical_zone(name: str) -> str:
    """The zone an IANA time zone name stands for, case folded (unknown names as they are)."""
    folded = name.casefold()
    return _zone_aliases().get(folded, name).casefold()


def value_failure(expected: Any, actual: Any, kind: str = "text") -> str | None:
    """``None`` when ``actual`` matches ``expected`` under ``kind``, else ``wrong-type`` or
    ``wrong-value``."""
    if isinstance(expected, bool) or expected is None:
        if type(actual) is not type(expected):
            return "wrong-type"
        return None if actual == expected else "wrong-value"
    if isinstance(expected, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return "wrong-type"
        return None if math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9) \
            else "wrong-value"
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return "wrong-type"
        return None if normalise(expected, kind) == normalise(actual, kind) else "wrong-value"
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple):
            return "wrong-type"
        if len(expected) != len(actual):
            return "wrong-value"
        if kind == "unordered":
            return _multiset_failure(expected, actual)
        return _first(value_failure(e, a, kind) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return "wrong-type"
        if set(expected) != set(actual):
            return "wrong-value"
        return _first(value_failure(v, actual[k]) for k, v in expected.items())
    raise TypeError(f"cannot match expected value {expected!r}")


def _multiset_failure(expected: Any, actual: Any) -> str | None:
    """Each expected element matched by a different actual one, in any order."""
    free = list(actual)
    worst = None
    for e in expected:
        found = [value_failure(e, a) for a in free]
        if None in found:
            free.pop(found.index(None))
        else:
            worst = "wrong-type" if worst != "wrong-value" and all(
                f == "wrong-type" for f in found) else "wrong-value"
    return worst


def _first(failures: Any) -> str | None:
    return next((f for f in failures if f is not None), None)


_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
                     r"(?:\s*(thousand|million|billion)\b)?", re.IGNORECASE)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9}


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text``: ``5,000,000``, ``-2``, ``7.5``, ``5 million``."""
    found = []
    for m in _NUMBER.finditer(text.replace("\u2212", "-")):
        digits = m.group(0)
        if m.group(1):
            digits = digits[:m.start(1) - m.start(0)]
        value = float(digits.replace(",", "").strip())
        found.append(value * _SCALE[m.group(1).lower()] if m.group(1) else value)
    return found


def mentions(text: str, answer: Any) -> bool:
    """Whether a reply ``text`` states ``answer``: a number written anywhere in it (any
    format :func:`numbers_in` reads), or a string it contains (both normalised as text)."""
    if isinstance(answer, bool):
        raise TypeError("a bool is not an answer a reply can state")
    if isinstance(answer, int | float):
        return any(math.isclose(answer, n, rel_tol=1e-9, abs_tol=1e-9) for n in numbers_in(text))
    return normalise(str(answer)) in normalise(text)
