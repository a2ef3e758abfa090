"""The OTLP/HTTP span exporter every process runs with: the SDK's own (endpoint, headers, TLS,
compression, retries and its metrics, all as the `OTEL_EXPORTER_OTLP_*` variables configure
them), encoding its batches with `shared.span_wire` instead of the SDK's protobuf objects.

Loaded only when spans are exported over OTLP (it brings `requests` with it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import requests
from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from shared.span_wire import encode_request

_logger = logging.getLogger(__name__)


class WireSpanExporter(OTLPSpanExporter):
    """`OTLPSpanExporter.export` with the batch written by `encode_request`: the same request on
    the wire for about a third of the CPU (the encoding was most of the exporter thread's work,
    and it holds the interpreter lock the request path waits for).

    It reaches into the SDK exporter's client, metrics and state (pinned by uv.lock); should an
    upgrade rename them, it exports as the SDK does rather than fail, and
    `test_span_wire.py` says so.

    Its requests read the environment once, when it starts, not on every export: `requests`
    otherwise scans every variable for proxies and reads `~/.netrc` on each POST, 40% of an
    export's CPU (~470 of ~1,170 µs). Proxies (`HTTP(S)_PROXY`, `NO_PROXY`) and a CA bundle
    (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, when no `OTEL_EXPORTER_OTLP_*CERTIFICATE` names one)
    are taken at start; `.netrc` is not read. Where no proxy stands between it and the
    collector (the usual case), it posts through the SDK's own urllib3 transport, with the same
    TLS settings (the CA bundle `requests` trusts, not the system's store): an export of 64
    spans cost ~1.2-1.9 ms of CPU against ~2.7 ms through `requests`. A credential provider
    configured for the exporter brings its own session, which is left as it is.
    """

    def __init__(self, **options: Any) -> None:
        session = None if _credential_provider_configured() else _session_reading_env_once()
        if session is not None:
            options.setdefault("session", session)
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle and not any(
                os.environ.get(name)
                for name in (
                    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                    "OTEL_EXPORTER_OTLP_CERTIFICATE",
                )
            ):
                options.setdefault("certificate_file", bundle)
        super().__init__(**options)
        if session is not None:
            session.proxies = requests.utils.get_environ_proxies(self._endpoint)
            if not session.proxies and self.uses_wire_encoding():
                client = self._client
                if hasattr(client, "_transport"):
                    # requests' `verify=True` means certifi's bundle; urllib3's would mean
                    # the system's store: the same bundle keeps the same collectors trusted.
                    verify = DEFAULT_CA_BUNDLE_PATH if session.verify is True else session.verify
                    client._transport = Urllib3HTTPTransport(verify=verify, cert=session.cert)

    def transport(self) -> str:
        """What posts the batches: `urllib3` or `requests` (a proxy, a credential provider, or
        an SDK whose client no longer looks as it did)."""
        client = getattr(self, "_client", None)
        urllib3 = isinstance(getattr(client, "_transport", None), Urllib3HTTPTransport)
        return "urllib3" if urllib3 else "requests"

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


def _credential_provider_configured() -> bool:
    return any(
        os.environ.get(f"OTEL_PYTHON_EXPORTER_OTLP_HTTP{signal}_CREDENTIAL_PROVIDER")
        for signal in ("", "_TRACES")
    )


def _session_reading_env_once() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session
