"""What every HTTP request leaves behind: one server span, request metrics, and `X-Trace-Id`.

One plain ASGI middleware does all three. The stock pieces it replaces (OpenTelemetry's ASGI
middleware with its receive/send spans, and a `BaseHTTPMiddleware`, which runs the app in a task
of its own and streams the answer through a queue) cost several times the CPU of the read they
wrapped. SQL statements get their spans from `trace_statements`, without the stock
instrumentation's extra `connect` span on every pool checkout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

if TYPE_CHECKING:  # loaded by the processes with a database, not by the gateway
    from sqlalchemy.engine import Engine

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["method", "route"])

# FastAPI's own telemetry, off: RequestObserver already traces each request once, and FastAPI's
# would add a second server span and spans for dependencies, endpoint and serialisation (most of
# a read's CPU here), and record validation failures with their values into OpenTelemetry logs.
FASTAPI_TELEMETRY_OFF: dict[str, Any] = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}

# Not traced: the operations routes (probes and scrapes would drown the traces).
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
TRACE_ID_HEADER = b"x-trace-id"


class _HeaderGetter(Getter[list[tuple[bytes, bytes]]]):
    """Reads `traceparent`/`tracestate` straight from the ASGI header list."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.encode()
        values = [v.decode("latin-1") for k, v in carrier if k == wanted]
        return values or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


_GETTER = _HeaderGetter()


def route_of(scope: Scope) -> str:
    """The route template the router matched (`/orgs/{org_id}`), never the raw path: raw paths
    would give every id a metric series of its own."""
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


class RequestObserver:
    """Plain ASGI middleware around a whole app: it must sit outside the app's error handling so
    that even a 500 is measured, traced and carries its trace id."""

    def __init__(
        self,
        app: ASGIApp,
        tracer_provider: trace.TracerProvider | None = None,
        route: Callable[[Scope], str] = route_of,
    ) -> None:
        self.app = app
        self.tracer = trace.get_tracer("shared.observe", tracer_provider=tracer_provider)
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        status = 500
        if scope["path"] in UNTRACED_PATHS:
            span = None
            token = None
        else:
            parent = propagate.extract(scope["headers"], getter=_GETTER)
            span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            trace_id = format(span.get_span_context().trace_id, "032x").encode()

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if span is not None:
                    headers = message.setdefault("headers", [])
                    if not any(name.lower() == TRACE_ID_HEADER for name, _ in headers):
                        headers.append((TRACE_ID_HEADER, trace_id))
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            route = self.route(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
            if span is not None and token is not None:
                span.update_name(f"{method} {route}")
                span.set_attributes(
                    {
                        "http.request.method": method,
                        "http.route": route,
                        "url.path": scope["path"],
                        "http.response.status_code": status,
                    }
                )
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                span.end()
                otel_context.detach(token)


def observe_app(app: Any, tracer_provider: trace.TracerProvider | None = None) -> None:
    """Wrap a FastAPI/Starlette app's whole middleware stack (error handling included) in a
    RequestObserver, the way OpenTelemetry's own instrumentor places itself."""
    build = app.build_middleware_stack

    def build_observed() -> ASGIApp:
        return RequestObserver(build(), tracer_provider)

    app.build_middleware_stack = build_observed


_VERB = re.compile(r"^\s*(\w+)")


def trace_statements(engine: Engine, tracer_provider: trace.TracerProvider | None = None) -> None:
    """A client span per SQL statement, child of whatever span is current: the statement text
    (bound parameters are never recorded) and the database name."""
    from sqlalchemy import event

    tracer = trace.get_tracer("shared.observe.sql", tracer_provider=tracer_provider)
    database = engine.url.database or ""

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        _conn: Any, _cursor: Any, statement: str, _params: Any, ctx: Any, _many: bool
    ) -> None:
        verb = _VERB.match(statement)
        name = f"{verb.group(1).upper() if verb else 'SQL'} {database}"
        ctx._league_span = tracer.start_span(
            name,
            kind=SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.name": database, "db.statement": statement},
        )

    @event.listens_for(engine, "after_cursor_execute")
    def _end(
        _conn: Any, _cursor: Any, _statement: str, _params: Any, ctx: Any, _many: bool
    ) -> None:
        span = getattr(ctx, "_league_span", None)
        if span is not None:
            span.end()
            ctx._league_span = None

    @event.listens_for(engine, "handle_error")
    def _failed(error: Any) -> None:
        ctx = error.execution_context
        span = getattr(ctx, "_league_span", None) if ctx is not None else None
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, type(error.original_exception).__name__))
            span.end()
            ctx._league_span = None
