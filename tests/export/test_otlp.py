"""``agenttree export --otlp URL`` and ``--format otlp-json``: checked by a real OTLP/HTTP
receiver on 127.0.0.1 and by the official protobuf definitions (opentelemetry-proto)."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from agenttree import events as ev
from agenttree.cli import main

from .conftest import RECORDED, RUNS, entries
from .test_traces import expected_spans

KINDS = {"run": "run", "invoke_agent": "agent", "chat": "model", "execute_tool": "tool",
         "acceptance": "acceptance"}


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP collector's traces endpoint: keeps each request, answers ``status``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 200
        self.requests: list[tuple[str, str, bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[Span]:
        out = []
        for _, _, body in self.requests:
            request = ExportTraceServiceRequest.FromString(body)
            out += [span for rs in request.resource_spans for ss in rs.scope_spans
                    for span in ss.spans]
        return out


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, self.headers["Content-Type"], body))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def attributes(span: Span) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}


def span_id(raw: bytes) -> int | None:
    return int.from_bytes(raw, "big") if raw else None


def found(spans: list[Span]) -> dict[int, tuple[str, str | None, int | None]]:
    out = {}
    for span in spans:
        attrs = attributes(span)
        kind = KINDS[span.name.split(" ")[0]]
        out[span_id(span.span_id)] = (kind, attrs.get("agenttree.agent.id"),
                                      span_id(span.parent_span_id))
    return out


@pytest.mark.parametrize("run", RUNS)
def test_spans_sent_over_otlp_http_are_every_agent_and_call_under_its_parent(
        run: str, receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(RECORDED / run), "--otlp", receiver.url]) == 0
    assert [(path, kind) for path, kind, _ in receiver.requests] == \
        [("/v1/traces", "application/x-protobuf")]
    spans = receiver.spans()
    assert found(spans) == expected_spans(entries(run))
    assert len({span.trace_id for span in spans}) == 1
    assert f"sent {len(spans)} spans" in capsys.readouterr().err


def test_model_spans_carry_the_genai_attributes(receiver: Receiver) -> None:
    assert main(["export", str(RECORDED / "demo"), "--otlp", receiver.url + "/"]) == 0
    by_id = {span_id(s.span_id): s for s in receiver.spans()}
    asked: dict[str, int] = {}
    checked = 0
    for entry in entries("demo"):
        e = entry.event
        if isinstance(e, ev.ModelRequested):
            asked[e.agent] = entry.seq
        elif isinstance(e, ev.ModelResponded):
            span = by_id[asked.pop(e.agent)]
            assert span.kind == Span.SpanKind.SPAN_KIND_CLIENT
            assert span.name == f"chat {e.model}"
            assert attributes(span) | {
                "gen_ai.operation.name": "chat", "gen_ai.request.model": e.model,
                "gen_ai.provider.name": "scripted",
                "gen_ai.usage.input_tokens": e.usage["prompt"],
                "gen_ai.usage.output_tokens": e.usage["completion"],
                "agenttree.agent.id": e.agent, "agenttree.model.turn": e.turn,
            } == attributes(span)
            assert span.end_time_unix_nano == entry.t * 1_000_000
            checked += 1
    assert checked == sum(isinstance(e.event, ev.ModelResponded) for e in entries("demo"))


def test_the_pinned_semantic_conventions_are_the_ones_the_docs_name() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "traces.md").read_text()
    assert f"opentelemetry-semantic-conventions` {version('opentelemetry-semantic-conventions')}" \
        in docs


def test_a_resumed_run_sends_the_dead_engines_call_as_an_error(receiver: Receiver) -> None:
    assert main(["export", str(RECORDED / "web-fold"), "--otlp", receiver.url]) == 0
    sleeps = [s for s in receiver.spans()
              if attributes(s).get("gen_ai.tool.call.id") == "root.slow#2.0"]
    assert [s.status.code for s in sleeps] == [Status.STATUS_CODE_ERROR, Status.STATUS_CODE_OK]
    assert "engine stopped" in sleeps[0].status.message
    run = next(s for s in receiver.spans() if s.name == "run web-fold")
    assert [e.name for e in run.events] == ["resumed"]


def _hex_ids_to_base64(data: Any) -> Any:
    """OTLP/JSON writes trace and span ids in hex where protobuf's JSON mapping has base64."""
    if isinstance(data, list):
        return [_hex_ids_to_base64(item) for item in data]
    if not isinstance(data, dict):
        return data
    return {key: base64.b64encode(bytes.fromhex(value)).decode()
            if key in ("traceId", "spanId", "parentSpanId") else _hex_ids_to_base64(value)
            for key, value in data.items()}


@pytest.mark.parametrize("run", RUNS)
def test_the_otlp_json_file_is_the_request_sent_over_http(
        run: str, receiver: Receiver, tmp_path: Path) -> None:
    out = tmp_path / "trace.otlp.json"
    assert main(["export", str(RECORDED / run), "--format", "otlp-json", "-o", str(out),
                 "--otlp", receiver.url]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 1  # a line of JSON Lines, as the OTLP file exporter writes
    from_file = json_format.ParseDict(_hex_ids_to_base64(json.loads(lines[0])),
                                      ExportTraceServiceRequest())
    (_, _, body), = receiver.requests
    assert from_file == ExportTraceServiceRequest.FromString(body)


def test_exporting_twice_gives_the_same_spans(receiver: Receiver) -> None:
    for _ in range(2):
        assert main(["export", str(RECORDED / "conflict"), "--otlp", receiver.url]) == 0
    first, second = (ExportTraceServiceRequest.FromString(body)
                     for _, _, body in receiver.requests)
    assert first == second


def test_a_collector_that_refuses_the_spans_is_one_line_and_exit_1(
        receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    receiver.status = 400
    out = tmp_path / "trace.json"
    assert main(["export", str(RECORDED / "demo"), "-o", str(out), "--otlp", receiver.url]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"agenttree: error: sending spans to {receiver.url}/v1/traces "
                              "failed after 0 of 56 were sent: ")
    assert "400" in err[-1] and not any("Traceback" in line for line in err)
    assert json.loads(out.read_text())["traceEvents"]  # the file was written first


def test_an_unreachable_collector_is_one_line_and_exit_1(
        capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert main(["export", str(RECORDED / "demo"), "--otlp", url,
                 "--otlp-timeout", "0.5"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"agenttree: error: sending spans to {url}")
    assert err[0].endswith("no answer within 0.5 s, retries included (is a collector "
                           "listening there? --otlp-timeout waits longer)")


def test_a_file_and_a_collector_get_spans_built_once(
        receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agenttree.export import otlp

    built = []
    real = otlp.readable_spans
    monkeypatch.setattr(otlp, "readable_spans", lambda trace: built.append(1) or real(trace))
    out = tmp_path / "trace.otlp.json"
    assert main(["export", str(RECORDED / "demo"), "--format", "otlp-json", "-o", str(out),
                 "--otlp", receiver.url]) == 0
    assert len(built) == 1
    (_, _, body), = receiver.requests
    assert len(ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0]
               .spans) == 56
