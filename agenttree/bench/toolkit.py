"""Offline, deterministic implementations of the tool-calling suite's tools (``:impl`` in
``suites/tool_calling/tools.edn``). Each takes checked arguments and returns the text the model
sees; a bad value is a :class:`~agenttree.errors.ToolError` the model can act on.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import orjson

from ..errors import ToolError
from .matching import canonical_zone, normalise

TEMPERATURES = {"oslo": 4, "paris": 12, "tokyo": 18, "cairo": 29, "lima": 19, "berlin": 9,
                "sydney": 22, "toronto": 1, "nairobi": 24, "reykjavik": -2, "london": 11,
                "rome": 16}
CONDITIONS = ("clear", "cloudy", "rain", "snow", "windy")
RATES_TO_USD = {"USD": 1.0, "EUR": 1.25, "GBP": 1.5, "JPY": 0.01, "NOK": 0.1, "CHF": 1.2}
POPULATIONS = {"norway": 5_500_000, "france": 68_000_000, "japan": 124_000_000,
               "egypt": 112_000_000, "peru": 34_000_000, "iceland": 390_000,
               "italy": 59_000_000, "germany": 84_000_000, "canada": 40_000_000,
               "kenya": 55_000_000}
ZONES = {"europe/oslo": 1, "europe/london": 0, "europe/berlin": 1, "asia/tokyo": 9,
         "asia/kolkata": 5.5, "america/new_york": -5, "america/lima": -5,
         "america/los_angeles": -8, "australia/sydney": 11, "etc/utc": 0}
"""UTC offsets by canonical zone (:func:`~agenttree.bench.matching.canonical_zone`)."""
COORDINATES = {"oslo": (59.91, 10.75), "paris": (48.86, 2.35), "tokyo": (35.68, 139.69),
               "cairo": (30.04, 31.24), "lima": (-12.05, -77.04), "berlin": (52.52, 13.40),
               "sydney": (-33.87, 151.21), "toronto": (43.65, -79.38),
               "nairobi": (-1.29, 36.82), "reykjavik": (64.15, -21.94),
               "london": (51.51, -0.13), "rome": (41.90, 12.50)}
CUISINES = ("italian", "sushi", "thai", "indian", "vegan")
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


def _city(args: dict[str, Any], key: str = "city") -> str:
    """A city as the :place match sees it: "Tokyo, Japan" is Tokyo (whose weather the tools
    report, so a later turn gets the same numbers either way)."""
    return args[key].partition(",")[0].strip()


def _celsius(city: str) -> int:
    return TEMPERATURES.get(normalise(city), _stable(city, 35) - 5)


def _weather(args: dict[str, Any]) -> str:
    city = _city(args)
    celsius = _celsius(city)
    unit = (args.get("unit") or "celsius").casefold()
    if unit not in ("celsius", "fahrenheit"):
        raise ToolError(f"weather: unit must be celsius or fahrenheit, got {args['unit']!r}")
    temp = celsius if unit == "celsius" else celsius * 9 / 5 + 32
    return orjson.dumps({"city": city, "temperature": temp, "unit": unit,
                         "conditions": CONDITIONS[_stable(city, len(CONDITIONS))]}).decode()


def _forecast(args: dict[str, Any]) -> str:
    city = _city(args)
    days = args.get("days") or 3
    if not 1 <= days <= 7:
        raise ToolError(f"get_forecast: days must be 1 to 7, got {days}")
    today = _celsius(city)
    return orjson.dumps({"city": city, "unit": "celsius",
                         "days": [today + (_stable(f"{city}/{d}", 5) - 2)
                                  for d in range(1, days + 1)]}).decode()


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
    offset = ZONES.get(canonical_zone(args["timezone"].strip()))
    if offset is None:
        raise ToolError(f"get_time: unknown time zone {args['timezone']!r}")
    minutes = int((12 + offset) * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _population(args: dict[str, Any]) -> str:
    found = POPULATIONS.get(normalise(args["country"]))
    if found is None:
        raise ToolError(f"population: no figure for {args['country']!r}")
    return str(found)


def _div(args: dict[str, Any]) -> str:
    if args["b"] == 0:
        raise ToolError("div: b must not be zero")
    return _number(args["a"] / args["b"])


def _list_files(args: dict[str, Any]) -> str:
    files = FILES.get(normalise(args["folder"], "path"))
    if files is None:
        raise ToolError(f"list_files: no folder {args['folder']!r}")
    return "\n".join(f for f in files if args.get("recursive") or "/" not in f)


def _sort_numbers(args: dict[str, Any]) -> str:
    numbers = args["numbers"]
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        raise ToolError("sort_numbers: numbers must be a list of numbers")
    ordered = sorted(numbers, reverse=bool(args.get("descending")))
    return orjson.dumps(ordered).decode()


def _distance(args: dict[str, Any]) -> str:
    ends = []
    for key in ("origin", "destination"):
        place = COORDINATES.get(normalise(_city(args, key)))
        if place is None:
            raise ToolError(f"distance_km: unknown city {args[key]!r}; known: "
                            + ", ".join(sorted(COORDINATES)))
        ends.append(place)
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in ends)
    cos = (math.sin(lat1) * math.sin(lat2)
           + math.cos(lat1) * math.cos(lat2) * math.cos(lon2 - lon1))
    return str(round(6371 * math.acos(max(-1.0, min(1.0, cos)))))


def _restaurants(args: dict[str, Any]) -> str:
    city = _city(args)
    cuisine = args.get("cuisine")
    kinds = [normalise(cuisine)] if cuisine else list(CUISINES)
    limit = args.get("max_results") or 5
    names = [f"{city} {kind.title()} House #{i}" for kind in kinds for i in (1, 2)]
    return "\n".join(names[:limit])


def _event(args: dict[str, Any]) -> str:
    people = args.get("attendees") or []
    if not isinstance(people, list):
        raise ToolError("create_event: attendees must be a list of addresses")
    return (f"event {args['title']!r} on {args['date']} for "
            f"{args.get('duration_minutes') or 60} minutes, {len(people)} invited")


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
    "create-event": _event,
    "forecast": _forecast,
    "distance": _distance,
    "restaurants": _restaurants,
    "word-count": lambda a: str(len(a["text"].split())),
    "to-fahrenheit": lambda a: _number(a["celsius"] * 9 / 5 + 32),
    "list-files": _list_files,
    "sort-numbers": _sort_numbers,
    "decoy": lambda a: "ok",
}
"""Implementations by ``:impl`` name."""
