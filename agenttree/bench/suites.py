"""Suites on disk: ``SUITE_DIR/suite.edn`` names the suite, its version and its kind; the kind's
module (:mod:`.toolcalls` or :mod:`.coding`) reads the cases. Every mistake in a suite file is a
:class:`SuiteError`: one line naming the file and what is wrong (exit status 2 from the CLI).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import edn_format
import orjson

from ..edn_source import plain
from ..errors import UserError
from ..plan import is_scripted
from .names import BUILTIN_SUITES
from .scoring import AnyOf

if TYPE_CHECKING:
    from .case import CaseRun, Outcome

SUITE_FILE = "suite.edn"
SUITES_DIR = Path(__file__).resolve().parents[2] / "suites"
"""Where the built-in suites live (the project's ``suites/`` directory)."""
CASE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
"""What a case id may be: it names the case's directories in a report."""


class SuiteError(UserError):
    """A suite or case file is malformed."""


@attrs.frozen(kw_only=True)
class Case:
    """One case: its id, its data (plain Python) and a hash of that data."""

    id: str
    spec: dict[str, Any]
    hash: str


class Suite(Protocol):
    """What the runner needs from a suite of any kind."""

    name: str
    version: str
    kind: str
    root: Path
    cases: tuple[Case, ...]

    def offered(self, case: Case, seed: int) -> tuple[str, ...]:
        """The tools this case offers under ``seed``, decoys included, in order (part of its
        fingerprint)."""
        ...

    def check_model(self, model: str) -> None:
        """Raise :class:`SuiteError` when this suite cannot run ``model`` (an unknown
        ``scripted:NAME``)."""
        ...

    async def run_case(self, run: CaseRun) -> Outcome:
        """Run one case (an agent tree in ``run.case_dir``) and score it."""
        ...


def data(value: Any) -> Any:
    """EDN as plain data: keywords become their names, sets :class:`AnyOf` alternatives."""
    return plain(value, lambda items: AnyOf(tuple(sorted(items, key=repr))))


def read_edn(path: Path) -> Any:
    """Parse an EDN file into plain data; :class:`SuiteError` if it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SuiteError(f"{path}: not UTF-8 text") from None
    try:
        return data(edn_format.loads(text))
    except Exception as exc:  # edn_format raises assorted errors for bad syntax
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SuiteError(f"{path}: not valid EDN: {first}") from None


_ANY_OF = "\x00any-of"


def _to_json(value: Any) -> Any:
    if isinstance(value, AnyOf):
        return {_ANY_OF: [_to_json(v) for v in value.options]}
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if _ANY_OF in value:
            return AnyOf(tuple(_from_json(v) for v in value[_ANY_OF]))
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


class EdnCache:
    """Parsed suite files by the SHA-256 of their bytes, kept in a report directory.

    Parsing EDN is slow (about 5 s a megabyte); a resumed run reads its suite's files again but
    parses only those whose bytes changed, so resuming a 10,000-case report starts quickly. A
    changed file has another hash, so the cache can never hand out stale data.
    """

    def __init__(self, entries: dict[str, Any] | None = None) -> None:
        self._entries = entries or {}

    @classmethod
    def load(cls, path: Path) -> EdnCache:
        """The cache saved at ``path``; an empty one if there is none (or it is damaged)."""
        try:
            return cls(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            return cls()

    def __call__(self, path: Path) -> Any:
        """:func:`read_edn`, from the cache when the file's bytes are known."""
        try:
            blob = path.read_bytes()
        except OSError:
            return read_edn(path)  # it says what is wrong
        digest = hashlib.sha256(blob).hexdigest()
        if digest in self._entries:
            return _from_json(self._entries[digest])
        value = read_edn(path)
        self._entries[digest] = _to_json(value)
        return value

    def save(self, path: Path) -> None:
        """Write the cache to ``path``."""
        path.write_bytes(orjson.dumps(self._entries))


def spec_hash(value: Any) -> str:
    """A stable hash of case data (keys sorted), for fingerprints."""
    blob = orjson.dumps(_to_json(value), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


def require(where: str, mapping: Any, key: str, kind: type | tuple[type, ...],
            what: str) -> Any:
    """``mapping[key]`` checked to be a ``kind``; a one-line :class:`SuiteError` otherwise."""
    if not isinstance(mapping, dict):
        raise SuiteError(f"{where}: expected a map, got {type(mapping).__name__}")
    if key not in mapping:
        raise SuiteError(f"{where}: missing :{key} ({what})")
    value = mapping[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise SuiteError(f"{where}: :{key} must be {what}, got {value!r}")
    if not isinstance(value, kind):
        raise SuiteError(f"{where}: :{key} must be {what}, got {value!r}")
    return value


def valid_case_id(where: str, raw: Any) -> str:
    """A case map's ``:id``, checked against :data:`CASE_ID`."""
    value: str = require(where, raw, "id", str, "a case id")
    if not CASE_ID.match(value):
        raise SuiteError(f"{where}: id {value!r} may use only letters, digits, - and _")
    return value


def check_scripted(suite: str, model: str, scripts: Iterable[str]) -> None:
    """Refuse a ``scripted:NAME`` model whose NAME is not one of the suite's ``scripts``."""
    names = list(scripts)
    if is_scripted(model) and model.partition(":")[2] not in names:
        raise SuiteError(f"model {model!r}: the {suite} suite plays "
                         + " or ".join(f"scripted:{s}" for s in names))


def check_keys(where: str, mapping: dict[str, Any], allowed: set[str]) -> None:
    """Refuse keys outside ``allowed`` (a typo would otherwise be silently ignored)."""
    extra = sorted(set(mapping) - allowed)
    if extra:
        raise SuiteError(f"{where}: unknown key :{extra[0]}; allowed: "
                         + " ".join(f":{k}" for k in sorted(allowed)))


Reader = Callable[[Path], Any]
"""Reads one EDN file as plain data: :func:`read_edn` or an :class:`EdnCache`."""


def find_suite(arg: str) -> Path:
    """The suite directory ``agenttree bench ARG`` means: a path that exists, else a built-in
    suite's name."""
    path = Path(arg)
    if path.exists() or arg not in BUILTIN_SUITES:
        return path
    builtin = SUITES_DIR / BUILTIN_SUITES[arg]
    if not (builtin / SUITE_FILE).is_file():
        raise SuiteError(f"suite {arg!r}: the built-in suites are not installed here (no "
                         f"{builtin / SUITE_FILE}); give a suite directory")
    return builtin


def load_suite(path: str | Path, reader: Reader = read_edn) -> Suite:
    """Load the suite in directory ``path`` (or the suite.edn file itself)."""
    root = Path(path)
    if root.name == SUITE_FILE:
        root = root.parent
    if not (root / SUITE_FILE).is_file():
        raise SuiteError(f"{root}: not a suite (no {SUITE_FILE} in it); the built-in suites "
                         f"are {', '.join(sorted(set(BUILTIN_SUITES.values())))}")
    where = str(root / SUITE_FILE)
    info = reader(root / SUITE_FILE)
    name = require(where, info, "name", str, "the suite's name, a string")
    version = require(where, info, "version", str | int, "a version string")
    kind = require(where, info, "kind", str, ":tool-calling or :coding")
    if kind == "tool-calling":
        from .toolcalls import ToolCallingSuite
        return ToolCallingSuite.load(root, info, name=name, version=str(version), reader=reader)
    if kind == "coding":
        from .coding import CodingSuite
        return CodingSuite.load(root, info, name=name, version=str(version), reader=reader)
    raise SuiteError(f"{where}: unknown :kind {kind!r}; use :tool-calling or :coding")
