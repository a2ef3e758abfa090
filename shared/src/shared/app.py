"""The one shape of a service process: the app factory (API) and the relay and consumer runners."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.bus import Bus, Subscription
from shared.db import asyncpg_dsn, make_engine, make_sessionmaker
from shared.logging import configure_logging, get_logger
from shared.outbox import OutboxRelay, outbox_backlog
from shared.problems import Problem, install_problem_handlers
from shared.queue_metrics import QueueGauges
from shared.settings import PlatformSettings, ServiceSettings
from shared.telemetry import OPERATIONS_URLS, current_trace_id, setup_tracing

log = get_logger(__name__)

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["method", "route"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Events written but not yet published")


@dataclass
class Resources:
    """What a process builds at start-up and hands to routes and handlers."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    extra: dict[str, Any] = field(default_factory=dict)


SubscriptionFactory = Callable[[Resources], list[Subscription]]
StartupHook = Callable[[Resources, FastAPI], Awaitable[None]]


@dataclass
class ServiceSpec:
    """Everything the shared runners need to know about one service."""

    name: str
    settings: ServiceSettings
    root: Path  # the service folder: alembic.ini and migrations/
    routers: list[APIRouter] = field(default_factory=list)
    subscriptions: SubscriptionFactory = lambda _: []
    on_startup: StartupHook | None = None
    has_database: bool = True


def build_resources(settings: ServiceSettings) -> Resources:
    engine = make_engine(settings.resolved_database_url())
    return Resources(settings=settings, engine=engine, sessions=make_sessionmaker(engine))


def install_observability(app: FastAPI) -> None:
    """Trace id on every response, request metrics, and the standard operations routes."""

    @app.middleware("http")
    async def trace_and_measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        route_path = getattr(route, "path", "unmatched")
        REQUESTS.labels(request.method, route_path, str(response.status_code)).inc()
        LATENCY.labels(request.method, route_path).observe(time.perf_counter() - started)
        trace_id = current_trace_id()
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        sessions = getattr(request.app.state, "sessions", None)
        if sessions is not None:
            with contextlib.suppress(Exception):
                async with sessions() as session:
                    OUTBOX_BACKLOG.set(await outbox_backlog(session))
        gauges: QueueGauges | None = getattr(request.app.state, "queue_gauges", None)
        if gauges is not None:
            try:
                await asyncio.wait_for(gauges.refresh(), timeout=3)
            except Exception as exc:  # the broker being away must not fail the whole scrape
                log.warning("queue_metrics_unavailable", error=type(exc).__name__)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def warn_if_default_secret(platform: PlatformSettings) -> None:
    """The built-in secret is for a developer's machine; anywhere else the launcher or the
    deployment sets LEAGUE_INTERNAL_SECRET."""
    if platform.internal_secret == PlatformSettings.model_fields["internal_secret"].default:
        log.warning("internal_secret_is_the_development_default")


def broker_reachable(amqp_url: str, timeout: float = 1.0) -> bool:
    u = make_url(amqp_url.replace("amqp://", "amqp+x://", 1))
    try:
        with socket.create_connection((u.host or "127.0.0.1", u.port or 5672), timeout=timeout):
            return True
    except OSError:
        return False


def create_service_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings
    configure_logging(spec.name, settings.platform.log_level, settings.platform.log_json)
    setup_tracing(spec.name, settings.platform)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not spec.has_database:
            log.info("api_started", port=settings.port)
            yield
            return
        resources = build_resources(settings)
        app.state.resources = resources
        app.state.sessions = resources.sessions
        app.state.queue_gauges = QueueGauges(
            settings.platform.amqp_url, [s.queue for s in spec.subscriptions(resources)]
        )
        if spec.on_startup is not None:
            await spec.on_startup(resources, app)
        log.info("api_started", port=settings.port)
        try:
            yield
        finally:
            await resources.engine.dispose()

    warn_if_default_secret(settings.platform)
    app = FastAPI(title=f"zhtj {spec.name}", version="1.0.0", lifespan=lifespan)
    app.state.settings = settings
    install_problem_handlers(app)
    install_observability(app)

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> dict[str, str]:
        try:
            if spec.has_database:
                async with request.app.state.sessions() as session:
                    await session.execute(text("SELECT 1"))
        except Exception as exc:
            raise Problem(503, "ops.database_unreachable", "The database does not answer.") from exc
        if not broker_reachable(settings.platform.amqp_url):
            raise Problem(503, "ops.broker_unreachable", "The message broker does not answer.")
        return {"status": "ready"}

    for router in spec.routers:
        app.include_router(router)
    FastAPIInstrumentor.instrument_app(app, excluded_urls=OPERATIONS_URLS)
    return app


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


@contextlib.asynccontextmanager
async def _background_process(
    spec: ServiceSpec, role: str
) -> AsyncIterator[tuple[Resources, Bus, asyncio.Event]]:
    """The set-up a relay or consumer process runs in, torn down when it ends.

    Logging and tracing under `<service>-<role>`, the resources, a connected bus, and an event
    that SIGINT or SIGTERM sets.
    """
    settings = spec.settings
    name = f"{spec.name}-{role}"
    configure_logging(name, settings.platform.log_level, settings.platform.log_json)
    setup_tracing(spec.name, settings.platform)
    resources = build_resources(settings)
    bus = Bus(settings.platform, name)
    await bus.connect()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        yield resources, bus, stop
    finally:
        await bus.close()
        await resources.engine.dispose()


async def run_relay(spec: ServiceSpec) -> None:
    async with _background_process(spec, "relay") as (resources, bus, stop):
        relay = OutboxRelay(
            resources.sessions,
            bus,
            asyncpg_dsn(spec.settings.resolved_database_url()),
            exit_after_publish=spec.settings.platform.fault_relay_exit_after_publish,
        )
        await relay.run(stop)


async def run_consumers(spec: ServiceSpec) -> None:
    async with _background_process(spec, "consumer") as (resources, bus, stop):
        for subscription in spec.subscriptions(resources):
            await bus.consume(subscription)
        await stop.wait()
