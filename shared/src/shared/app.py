"""The API process of every service: the app factory (its operations routes and request observer
come from shared.operations, which the gateway uses too)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shared.contract import document_problems
from shared.heap import settle_heap
from shared.lane import Lane
from shared.logging import configure_logging, get_logger
from shared.observe import FASTAPI_TELEMETRY_OFF
from shared.operations import install_observability, warn_if_default_secret
from shared.problems import Problem, install_problem_handlers
from shared.process import ServiceSpec, build_resources
from shared.queue_metrics import QueueGauges
from shared.retry import RetryAfterDatabaseFailure
from shared.telemetry import setup_tracing

log = get_logger(__name__)


async def broker_reachable(amqp_url: str) -> bool:
    """The broker's port takes a connection within a second; without blocking the event loop,
    which serves requests meanwhile (a probe against a broker that drops packets waits the
    whole second)."""
    u = make_url(amqp_url.replace("amqp://", "amqp+x://", 1))
    try:
        async with asyncio.timeout(1.0):
            _, writer = await asyncio.open_connection(u.host or "127.0.0.1", u.port or 5672)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


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
    # The `@fast_lane` routes (shared.lane), inside the retry below.
    app.add_middleware(Lane)
    # A request the database failed (connection lost, deadlock victim) is tried once more before
    # it answers 503.
    app.add_middleware(RetryAfterDatabaseFailure)
    install_observability(app)

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> dict[str, str]:
        try:
            if spec.has_database:
                async with request.app.state.sessions() as session:
                    await session.execute(text("SELECT 1"))
        except Exception as exc:
            raise Problem(503, "ops.database_unreachable", "The database does not answer.") from exc
        if not await broker_reachable(settings.platform.amqp_url):
            raise Problem(503, "ops.broker_unreachable", "The message broker does not answer.")
        return {"status": "ready"}

    for router in spec.routers():
        app.include_router(router)
    document_problems(app)
    return app
