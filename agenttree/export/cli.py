"""``agenttree export RUN_DIR``: a run's trace as a file other tools open, or sent to an
OpenTelemetry collector.

Exit status: 0 written (and sent); 1 the collector could not be reached or refused the spans
(the file, if asked for, is written first); 2 bad input. The log's readers, the exporters and
OpenTelemetry are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import UserError
from ..rundir import require_run_dir

if TYPE_CHECKING:
    from ..traces import Trace

FORMATS = ("chrome-trace", "otlp-json")
RUN_FILES = ("events.jsonl", "control.jsonl", "plan.edn")
"""The run's own files, which an export never overwrites."""
DEFAULT_TIMEOUT_S = 10.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``export`` to the ``agenttree`` command."""
    export = sub.add_parser(
        "export", help="write a run's trace (Chrome trace, OTLP/JSON) or send it over OTLP")
    export.add_argument("run_dir", help="a run directory (finished, live or resumed)")
    export.add_argument("--format", default="chrome-trace", metavar="{chrome-trace,otlp-json}",
                        help="the file's format (default chrome-trace)")
    export.add_argument("-o", "--output", metavar="FILE", help="write the trace here (- for "
                        "standard output)")
    export.add_argument("--otlp", metavar="URL", help="send the spans to this OTLP/HTTP "
                        "collector (e.g. http://127.0.0.1:4318); headers from "
                        "OTEL_EXPORTER_OTLP_HEADERS")
    export.add_argument("--otlp-timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"give up sending after S seconds per request, retries included "
                        f"(default {DEFAULT_TIMEOUT_S:g})")
    export.set_defaults(func=cmd_export)


def _check(args: argparse.Namespace) -> None:
    if args.format not in FORMATS:
        raise UserError(f"unknown format {args.format!r}: choose {' or '.join(FORMATS)}")
    if args.output is None and args.otlp is None:
        raise UserError("say where the trace goes: -o FILE (or - for standard output), "
                        "--otlp URL, or both")
    if not args.otlp_timeout > 0:
        raise UserError(f"--otlp-timeout {args.otlp_timeout:g}: give a number of seconds > 0")


def _refuse_run_files(run_dir: Path, output: Path) -> None:
    for name in RUN_FILES:
        own = run_dir / name
        if own.exists() and output.exists() and own.samefile(output):
            raise UserError(f"-o {output}: that is the run's own {name}; choose another file")


def _encode(trace: Trace, fmt: str, spans: list[Any] | None) -> bytes:
    if fmt == "chrome-trace":
        from .chrome import chrome_trace

        return orjson.dumps(chrome_trace(trace)) + b"\n"
    from .otlp import otlp_json

    assert spans is not None
    return otlp_json(spans)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all.

    Raises:
        UserError: the file cannot be written there (the reason, in one line).
    """
    from ..log import replace_whole

    try:
        replace_whole(path, data)
    except OSError as exc:
        raise UserError(f"-o {path}: cannot write there: {exc.strerror or exc}") from None


def cmd_export(args: argparse.Namespace) -> int:
    """``agenttree export RUN_DIR [--format F -o FILE] [--otlp URL]``."""
    from ..log import LogReader
    from ..traces import trace_of

    _check(args)
    run_dir = require_run_dir(args.run_dir)
    if args.otlp is not None:
        from .otlp import endpoint

        endpoint(args.otlp)  # a malformed URL is refused before anything is written
    output = None if args.output in (None, "-") else Path(args.output)
    if output is not None:
        _refuse_run_files(run_dir, output)
    reader = LogReader(run_dir / "events.jsonl")
    trace = trace_of(reader)
    if reader.torn is not None:
        print(f"agenttree: warning: {reader.torn}", file=sys.stderr)
    if not trace.spans:
        raise UserError(f"{run_dir}: the log has no run in it yet; nothing to export")
    otel = None  # the trace as OpenTelemetry spans: built once, for the file and the collector
    if args.otlp is not None or args.format == "otlp-json":
        from .otlp import readable_spans

        otel = readable_spans(trace)
    if args.output is not None:
        data = _encode(trace, args.format, otel)
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            write_atomically(output, data)
            print(f"wrote {len(trace.spans)} spans ({args.format}) to {output}",
                  file=sys.stderr)
    if args.otlp is not None:
        from .otlp import SendFailed, send

        try:
            sent = send(otel, args.otlp, args.otlp_timeout)
        except SendFailed as exc:
            print(f"agenttree: error: {exc}", file=sys.stderr)
            return 1
        print(f"sent {sent} spans to {args.otlp}", file=sys.stderr)
    return 0
