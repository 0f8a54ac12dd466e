"""Offline, deterministic implementations of the tool-calling suite's tools (``:impl`` in
``suites/tool_calling/tools.edn``). Each takes checked arguments and returns the text the model
sees; a bad value is a :class:`~agenttree.errors.ToolError` the model can act on.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import orjson

from ..errors import ToolError

TEMPERATURES = {"oslo": 4, "paris": 12, "tokyo": 18, "cairo": 29, "lima": 19, "berlin": 9,
                "sydney": 22, "toronto": 1, "nairobi": 24, "reykjavik": -2}
CONDITIONS = ("clear", "cloudy", "rain", "snow", "windy")
RATES_TO_USD = {"USD": 1.0, "EUR": 1.25, "GBP": 1.5, "JPY": 0.01, "NOK": 0.1, "CHF": 1.2}
POPULATIONS = {"norway": 5_500_000, "france": 68_000_000, "japan": 124_000_000,
               "egypt": 112_000_000, "peru": 34_000_000, "iceland": 390_000}
ZONES = {"europe/oslo": 1, "europe/london": 0, "asia/tokyo": 9, "america/new_york": -5,
         "america/lima": -5, "australia/sydney": 11, "utc": 0}
DOCS = {"doc-11": ("Getting started", "install the CLI and run your first plan"),
        "doc-17": ("Rate limits", "requests per minute per key; 429 responses carry "
                   "Retry-After"),
        "doc-23": ("Authentication", "API keys go in the Authorization header"),
        "doc-31": ("Webhooks", "signed POST requests on events; verify the signature"),
        "doc-42": ("Pagination", "use the cursor field; pages hold at most 100 items")}
FILES = {"src": ["app.py", "util.py", "models/user.py"], "docs": ["index.md", "api.md"],
         "tests": ["test_app.py"]}


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"


def _stable(text: str, modulo: int) -> int:
    return zlib.crc32(text.strip().casefold().encode()) % modulo


def _weather(args: dict[str, Any]) -> str:
    city = args["city"].strip()
    celsius = TEMPERATURES.get(city.casefold(), _stable(city, 35) - 5)
    unit = (args.get("unit") or "celsius").casefold()
    if unit not in ("celsius", "fahrenheit"):
        raise ToolError(f"weather: unit must be celsius or fahrenheit, got {args['unit']!r}")
    temp = celsius if unit == "celsius" else celsius * 9 / 5 + 32
    return orjson.dumps({"city": city, "temperature": temp, "unit": unit,
                         "conditions": CONDITIONS[_stable(city, len(CONDITIONS))]}).decode()


def _search_docs(args: dict[str, Any]) -> str:
    words = set(args["query"].casefold().split())
    limit = args.get("limit") or 3
    hits = [f"{doc_id}: {title}" for doc_id, (title, body) in DOCS.items()
            if words & set(f"{title} {body}".casefold().replace(";", " ").split())]
    return "\n".join(hits[:limit]) or "no pages match"


def _get_doc(args: dict[str, Any]) -> str:
    doc = DOCS.get(args["id"].strip())
    if doc is None:
        raise ToolError(f"get_doc: no page {args['id']!r}; ids look like doc-17")
    return f"{doc[0]}\n\n{doc[1]}"


def _convert(args: dict[str, Any]) -> str:
    rates = []
    for key in ("from", "to"):
        code = args[key].strip().upper()
        if code not in RATES_TO_USD:
            raise ToolError(f"convert_currency: unknown currency {args[key]!r}; known: "
                            + ", ".join(RATES_TO_USD))
        rates.append(RATES_TO_USD[code])
    return _number(round(args["amount"] * rates[0] / rates[1], 2))


def _get_time(args: dict[str, Any]) -> str:
    offset = ZONES.get(args["timezone"].strip().casefold())
    if offset is None:
        raise ToolError(f"get_time: unknown time zone {args['timezone']!r}")
    return f"{(12 + offset) % 24:02d}:00"


def _population(args: dict[str, Any]) -> str:
    found = POPULATIONS.get(args["country"].strip().casefold())
    if found is None:
        raise ToolError(f"population: no figure for {args['country']!r}")
    return str(found)


def _div(args: dict[str, Any]) -> str:
    if args["b"] == 0:
        raise ToolError("div: b must not be zero")
    return _number(args["a"] / args["b"])


def _list_files(args: dict[str, Any]) -> str:
    files = FILES.get(args["folder"].strip().strip("/"))
    if files is None:
        raise ToolError(f"list_files: no folder {args['folder']!r}")
    return "\n".join(f for f in files if args.get("recursive") or "/" not in f)


def _sort_numbers(args: dict[str, Any]) -> str:
    numbers = args["numbers"]
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        raise ToolError("sort_numbers: numbers must be a list of numbers")
    ordered = sorted(numbers, reverse=bool(args.get("descending")))
    return orjson.dumps(ordered).decode()


IMPLEMENTATIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "add": lambda a: _number(a["a"] + a["b"]),
    "mul": lambda a: _number(a["a"] * a["b"]),
    "sub": lambda a: _number(a["a"] - a["b"]),
    "div": _div,
    "weather": _weather,
    "search-docs": _search_docs,
    "get-doc": _get_doc,
    "convert-currency": _convert,
    "get-time": _get_time,
    "population": _population,
    "send-email": lambda a: f"sent to {a['to']}",
    "create-reminder": lambda a: f"reminder set for {a['minutes']} minutes from now",
    "word-count": lambda a: str(len(a["text"].split())),
    "to-fahrenheit": lambda a: _number(a["celsius"] * 9 / 5 + 32),
    "list-files": _list_files,
    "sort-numbers": _sort_numbers,
    "decoy": lambda a: "ok",
}
"""Implementations by ``:impl`` name."""
