"""OpenTelemetry set-up: one tracer provider per process, exporters chosen by configuration."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.settings import PlatformSettings


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to a file, one JSON object a line.

    End-to-end tests run real processes; a shared file is the test exporter that lets them follow
    one trace across the gateway, a service, the relay and a consumer.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_as_dict(s), ensure_ascii=False) + "\n" for s in spans)
        # One unbuffered append: the kernel writes it whole at the end of the file, so the lines
        # of several processes never interleave (a buffered text file may split it in pieces).
        with self._lock, self._path.open("ab", buffering=0) as f:
            f.write(lines.encode())
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def span_as_dict(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get("service.name"),
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
            }
            for link in span.links
        ],
        "start_ns": span.start_time,
        "end_ns": span.end_time,
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# Not traced: the operations routes, matched exactly (a pattern is searched in the whole URL, so a
# bare "readyz" would also leave /api/v1/orgs/readyz untraced).
OPERATIONS_URLS = r"^https?://[^/]+/(healthz|readyz|metrics)(\?.*)?$"


def setup_tracing(
    service_name: str,
    platform: PlatformSettings,
    extra_exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Install the process-wide tracer provider. OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from shared.span_export import WireSpanExporter

        # Small batches: encoding a batch holds the GIL, and a default batch of 512 spans took
        # ~16 ms here with the SDK's encoder, a stall every request in flight would wait out.
        # With span_wire a batch of 256 took 2% off a payment's CPU but its p99 rose: 64 stays.
        # A deeper queue than the default 2,048: an import's flood of consumer spans would
        # otherwise be dropped while the exporter catches up.
        batch = int(os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"))
        queue = int(os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE", "16384"))
        provider.add_span_processor(
            BatchSpanProcessor(
                WireSpanExporter(), max_queue_size=queue, max_export_batch_size=batch
            )
        )
    if platform.span_file is not None:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(platform.span_file)))
    if platform.trace_console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    if extra_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(extra_exporter))
    trace.set_tracer_provider(provider)
    return provider


def in_memory_tracing(service_name: str = "test") -> tuple[TracerProvider, InMemorySpanExporter]:
    """A provider with an in-memory exporter, for unit tests (not installed globally)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def inject_context(context: otel_context.Context | None = None) -> dict[str, str]:
    """The W3C trace context (the current one, or `context`) as a carrier dict (traceparent,
    tracestate)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier


def extract_context(carrier: Mapping[str, Any] | None) -> otel_context.Context:
    plain = {
        str(k): v.decode() if isinstance(v, bytes) else v
        for k, v in (carrier or {}).items()
        if isinstance(v, str | bytes)
    }
    return propagate.extract(plain)


def trace_id_in(carrier: Mapping[str, Any] | None) -> str | None:
    """The trace id a stored W3C trace context names (a payment's, a remittance's), if any."""
    ctx = trace.get_current_span(extract_context(carrier)).get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
