"""The OTLP/HTTP span exporter every process runs with: the SDK's own (endpoint, headers, TLS,
compression, retries and its metrics, all as the `OTEL_EXPORTER_OTLP_*` variables configure
them), encoding its batches with `shared.span_wire` instead of the SDK's protobuf objects.

Loaded only when spans are exported over OTLP (it brings `requests` with it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from shared.span_wire import encode_request

_logger = logging.getLogger(__name__)


class WireSpanExporter(OTLPSpanExporter):
    """`OTLPSpanExporter.export` with the batch written by `encode_request`: the same request on
    the wire for about a third of the CPU (the encoding was most of the exporter thread's work,
    and it holds the interpreter lock the request path waits for).

    It reaches into the SDK exporter's client, metrics and state (pinned by uv.lock); should an
    upgrade rename them, it exports as the SDK does rather than fail, and
    `test_span_wire.py` says so."""

    def uses_wire_encoding(self) -> bool:
        return all(hasattr(self, name) for name in ("_client", "_metrics", "_shutdown"))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.uses_wire_encoding():
            return super().export(spans)
        if self._shutdown:
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                data = encode_request(spans)
            except Exception as error:  # a value no encoder knows: the batch, not the process
                _logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            answer = self._client.export(data)
            if not answer.success:
                result.error = answer.error
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
