"""The API process of every service: the app factory, observability and the operations routes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, Response
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shared.contract import document_problems
from shared.logging import configure_logging, get_logger
from shared.observe import FASTAPI_TELEMETRY_OFF, observe_app
from shared.outbox import outbox_backlog
from shared.problems import Problem, install_problem_handlers
from shared.process import ServiceSpec, build_resources, settle_heap
from shared.queue_metrics import QueueGauges
from shared.retry import RetryWhenTheDatabaseIsLost
from shared.settings import PlatformSettings
from shared.telemetry import setup_tracing

log = get_logger(__name__)

OUTBOX_BACKLOG = Gauge("outbox_backlog", "Events written but not yet published")
OUTBOX_OLDEST = Gauge("outbox_oldest_seconds", "How long the oldest unpublished event has waited")


def install_observability(app: FastAPI, tracer_provider: TracerProvider | None = None) -> None:
    """Trace, measure and name the trace of every request; the standard operations routes."""
    observe_app(app, tracer_provider)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        sessions = getattr(request.app.state, "sessions", None)
        on_scrape = getattr(request.app.state, "on_scrape", None)
        if sessions is not None:
            # The database being away must not fail the whole scrape: the gauges keep their
            # last figures, and the request metrics still go out.
            with contextlib.suppress(Exception):
                async with sessions() as session:
                    backlog, oldest = await outbox_backlog(session)
                    OUTBOX_BACKLOG.set(backlog)
                    OUTBOX_OLDEST.set(oldest)
                    if on_scrape is not None:
                        await on_scrape(session)
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
            settle_heap()
            log.info("api_started", port=settings.port)
            yield
            return
        resources = build_resources(settings)
        app.state.resources = resources
        app.state.sessions = resources.sessions
        app.state.read_sessions = resources.read_sessions
        # Event queues (consumer lag) and work queues (fees' GenerateBills: the month start).
        queues = [*spec.subscriptions(resources), *spec.work(resources)]
        app.state.queue_gauges = QueueGauges(settings.platform.amqp_url, [q.queue for q in queues])
        if spec.on_startup is not None:
            await spec.on_startup(resources, app)
        settle_heap()
        log.info("api_started", port=settings.port)
        try:
            yield
        finally:
            await resources.engine.dispose()

    warn_if_default_secret(settings.platform)
    app = FastAPI(
        title=f"zhtj {spec.name}",
        version="1.0.0",
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY_OFF,  # type: ignore[arg-type]
    )
    app.state.settings = settings
    app.state.on_scrape = spec.on_scrape
    install_problem_handlers(app)
    # A request whose database connection was lost is tried once more before it answers 503.
    app.add_middleware(RetryWhenTheDatabaseIsLost)
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

    for router in spec.routers():
        app.include_router(router)
    document_problems(app)
    return app
