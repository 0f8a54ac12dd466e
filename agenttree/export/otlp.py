"""A trace as OpenTelemetry spans: an OTLP/JSON file, or sent to a collector over OTLP/HTTP.

The spans are the SDK's own ``ReadableSpan`` records, encoded by the official exporters
(``opentelemetry-exporter-otlp-json-common`` for the file, ``opentelemetry-exporter-otlp-proto-
http`` for sending). Ids are derived, not random, so exporting a log twice gives the same
spans: the trace id from the run's name and start, a span id from the ``seq`` of the event that
opened the span.

Only ``agenttree export`` imports this module (and with it the OpenTelemetry SDK), when it runs.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME, SERVICE_VERSION
from opentelemetry.semconv.resource import ResourceAttributes
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .. import __version__
from ..errors import UserError
from ..traces import Span, Trace
from .attributes import event_attributes, span_attributes, span_name

SCHEMA_URL = Schemas.V1_44_0.value
"""The semantic conventions' schema the attribute names come from (``opentelemetry-semantic-
conventions`` 0.66b2)."""
BATCH = 1000
"""Spans per OTLP/HTTP request (a big run is sent in several)."""

_KINDS = {"model": SpanKind.CLIENT}
_STATUS = {"ok": StatusCode.OK, "error": StatusCode.ERROR, "unset": StatusCode.UNSET}
_NS_PER_MS = 1_000_000


class SendFailed(Exception):
    """The collector could not be reached, or refused the spans."""


def trace_id(trace: Trace) -> int:
    """The trace's 128-bit id: from the run's name and its first stamp."""
    digest = hashlib.sha256(f"{trace.run}@{trace.start_t}".encode()).digest()
    return int.from_bytes(digest[:16], "big") or 1


def readable_spans(trace: Trace) -> list[ReadableSpan]:
    """The trace's spans as the SDK's finished spans, ready for any span exporter."""
    tid = trace_id(trace)
    flags = TraceFlags(TraceFlags.SAMPLED)
    resource = Resource.create({SERVICE_NAME: "agenttree", SERVICE_VERSION: __version__,
                                ResourceAttributes.SERVICE_INSTANCE_ID: trace.run})
    scope = InstrumentationScope("agenttree", __version__, schema_url=SCHEMA_URL)

    def context(span_id: int) -> SpanContext:
        return SpanContext(trace_id=tid, span_id=span_id, is_remote=False, trace_flags=flags)

    def readable(span: Span) -> ReadableSpan:
        events = [Event(mark.name, event_attributes(mark.fields), mark.t * _NS_PER_MS)
                  for mark in span.events]
        status = Status(_STATUS[span.status],
                        span.message if span.status == "error" and span.message else None)
        return ReadableSpan(
            name=span_name(span), context=context(span.id),
            parent=None if span.parent is None else context(span.parent),
            resource=resource, attributes=span_attributes(trace, span), events=events,
            kind=_KINDS.get(span.kind, SpanKind.INTERNAL), status=status,
            start_time=span.start_t * _NS_PER_MS, end_time=span.end_t * _NS_PER_MS,
            instrumentation_scope=scope)

    return [readable(span) for span in trace.spans]


def otlp_json(spans: list[ReadableSpan]) -> bytes:
    """The spans (:func:`readable_spans`) as one OTLP/JSON ``ExportTraceServiceRequest`` on
    one line (the encoding of OTLP/HTTP with JSON bodies, and a line of the OTLP file
    exporter's JSON Lines)."""
    return encode_spans(spans).to_json().encode() + b"\n"


class _Failures(logging.Handler):
    """Keeps what the exporter logs about a failed send (it only returns FAILURE)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _exporter_logs() -> Iterator[_Failures]:
    """Collect the exporters' warnings instead of letting them reach stderr."""
    logger = logging.getLogger("opentelemetry")
    failures = _Failures()
    saved = logger.propagate, logger.level
    logger.addHandler(failures)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield failures
    finally:
        logger.removeHandler(failures)
        logger.propagate, logger.level = saved


_GAVE_UP = "due to timeout, max retries or shutdown"
"""How the exporter says it gave up retrying (a connection error, 429 or 5xx each time)."""


def _reason(messages: list[str], timeout_s: float) -> str:
    """Why a send failed, in one line, from what the exporter logged."""
    for message in messages:  # the first that names an error: a status code or an exception
        if _GAVE_UP in message:
            continue
        transient = re.match(r"Transient error (.*) encountered while", message, re.S)
        if transient:
            message = f"gave up retrying: {transient[1]}"
        return " ".join(message.split())
    return (f"no answer within {timeout_s:g} s, retries included (is a collector listening "
            "there? --otlp-timeout waits longer)")


def endpoint(url: str) -> str:
    """The traces endpoint for ``url``: ``URL/v1/traces`` when it names a collector without a
    path (as ``OTEL_EXPORTER_OTLP_ENDPOINT`` does), else the URL itself.

    Raises:
        UserError: it is not an http(s) URL.
    """
    scheme, sep, rest = url.partition("://")
    if scheme not in ("http", "https") or not sep or not rest.split("/")[0]:
        raise UserError(f"--otlp {url!r}: give the collector's http(s) URL, e.g. "
                        "http://127.0.0.1:4318 (its /v1/traces is used)")
    return url.rstrip("/") + "/v1/traces" if "/" not in rest.rstrip("/") else url


def send(spans: list[ReadableSpan], url: str, timeout_s: float) -> int:
    """Send the spans (:func:`readable_spans`) to an OTLP/HTTP collector (protobuf bodies,
    the exporter's retries within ``timeout_s`` per request); returns how many were sent.
    Blocks.

    Raises:
        UserError: ``url`` is not an http(s) URL.
        SendFailed: the collector could not be reached or did not accept the spans.
    """
    target = endpoint(url)
    exporter = OTLPSpanExporter(endpoint=target, timeout=timeout_s)
    try:
        with _exporter_logs() as failures:
            for start in range(0, len(spans), BATCH):
                if exporter.export(spans[start:start + BATCH]) is not SpanExportResult.SUCCESS:
                    raise SendFailed(f"sending spans to {target} failed after {start} of "
                                     f"{len(spans)} were sent: "
                                     f"{_reason(failures.messages, timeout_s)}")
    finally:
        exporter.shutdown()
    return len(spans)
