"""The spans an operator sees in the tracing dashboard are the same, whichever encoder wrote
them: the wire bytes decode to the message the SDK's own encoder builds, and the exporter every
process runs with delivers them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from shared.span_export import WireSpanExporter
from shared.span_wire import encode_request


def spans_of_every_kind(service: str = "fees") -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "replicas": 2}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shared.observe", "1.0", schema_url="https://example/schema")
    other = provider.get_tracer("shared.reads")
    remote = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("league", "1"), ("vendor", "x")]),
    )
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    with tracer.start_as_current_span(
        "POST /bills/{bill_id}/payments", context=parent, kind=SpanKind.SERVER
    ) as server:
        server.set_attributes(
            {
                "http.request.method": "POST",
                "http.response.status_code": 201,
                "negative": -5,
                "ratio": 0.25,
                "flag": False,
                "empty": "",
                "names": ("缴费", "团费"),
                "counts": (1, 2, 3),
            }
        )
        server.add_event("retry", {"attempt": 2})
        server.add_event("", {})
        with other.start_as_current_span(
            "WITH league_fees",
            kind=SpanKind.CLIENT,
            attributes={"db.statement": "WITH bill AS (UPDATE bills ...) SELECT 1"},
        ) as statement:
            statement.set_status(Status(StatusCode.ERROR, "UniqueViolationError"))
    with tracer.start_as_current_span(
        "fee.remitted publish",
        kind=SpanKind.PRODUCER,
        links=[Link(remote, {"league.payment": "p1"}), Link(statement.get_span_context())],
    ) as producer:
        producer.set_status(Status(StatusCode.OK))
    with other.start_as_current_span("fees.holdings process", kind=SpanKind.CONSUMER):
        pass
    with other.start_as_current_span("internal"):
        pass
    return list(exporter.get_finished_spans())


def test_the_bytes_decode_to_the_sdk_encoders_message() -> None:
    spans = spans_of_every_kind()
    ours = ExportTraceServiceRequest.FromString(encode_request(spans))
    assert ours == encode_spans(spans)
    # Not two empty messages agreeing: every span is in it, with what an operator reads.
    decoded = [s for r in ours.resource_spans for scope in r.scope_spans for s in scope.spans]
    assert len(decoded) == len(spans) == 5
    server = next(s for s in decoded if s.name.startswith("POST"))
    names = next(a.value for a in server.attributes if a.key == "names")
    assert [v.string_value for v in names.array_value.values] == ["缴费", "团费"]


def test_a_batch_of_several_processes_keeps_each_resource_apart() -> None:
    first, second = spans_of_every_kind("fees"), spans_of_every_kind("gateway")
    mixed = [first[0], second[0], first[1], second[1]]
    ours = ExportTraceServiceRequest.FromString(encode_request(mixed))
    assert ours == encode_spans(mixed)
    assert len(ours.resource_spans) == 2


class Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()


def test_a_batch_arrives_as_the_sdk_would_send_it(collector: str) -> None:
    spans = spans_of_every_kind()
    exporter = WireSpanExporter(endpoint=collector)
    assert exporter.uses_wire_encoding()  # not the SDK's own encoding, after an upgrade say
    assert exporter.transport() == "urllib3"  # not requests' costlier POST, likewise
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    [(path, content_type, body)] = Collector.received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert ExportTraceServiceRequest.FromString(body) == encode_spans(spans)


def test_a_collector_that_is_away_fails_the_batch_not_the_process() -> None:
    exporter = WireSpanExporter(endpoint="http://127.0.0.1:9/v1/traces", timeout=1)
    assert exporter.export(spans_of_every_kind()) is SpanExportResult.FAILURE


def _proxy_environment(monkeypatch: pytest.MonkeyPatch, proxy: str, no_proxy: str) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", no_proxy)


def test_an_operators_proxy_carries_the_spans(
    collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment is read once, at start; the proxy it names is used for every export.
    _proxy_environment(monkeypatch, proxy=collector.removesuffix("/v1/traces"), no_proxy="")
    exporter = WireSpanExporter(endpoint="http://collector.invalid:4318/v1/traces", timeout=2)
    assert exporter.transport() == "requests"  # which goes through the proxy
    assert exporter.export(spans_of_every_kind()) is SpanExportResult.SUCCESS
    [(path, _, _)] = Collector.received
    assert path == "http://collector.invalid:4318/v1/traces"  # a request for the proxy to pass on


def test_a_collector_named_in_no_proxy_is_reached_directly(
    collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _proxy_environment(monkeypatch, proxy="http://127.0.0.1:9", no_proxy="127.0.0.1")
    exporter = WireSpanExporter(endpoint=collector, timeout=2)
    assert exporter.transport() == "urllib3"
    assert exporter.export(spans_of_every_kind()) is SpanExportResult.SUCCESS
    [(path, _, _)] = Collector.received
    assert path == "/v1/traces"


def test_a_value_keeps_its_type_when_an_equal_one_of_another_type_came_first() -> None:
    # True == 1 and hashes alike: an attribute 1 after an attribute True is still an int.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shared.reads")
    for value in (True, 1, False, 0):
        with tracer.start_as_current_span("statement", attributes={"db.rows": value}):
            pass
    spans = list(exporter.get_finished_spans())
    ours = ExportTraceServiceRequest.FromString(encode_request(spans))
    assert ours == encode_spans(spans)
    values = [s.attributes[0].value for s in ours.resource_spans[0].scope_spans[0].spans]
    assert [v.WhichOneof("value") for v in values] == [
        "bool_value",
        "int_value",
        "bool_value",
        "int_value",
    ]
