"""The operations side every HTTP process shares (each service's API and the gateway): `/healthz`,
`/metrics`, the request observer, and the start-up warning about the development secret.

Nothing here needs a database at import: the gateway has none, and SQLAlchemy would cost it
about 20 MiB. A service's outbox figures are read at scrape time, by the process that has one.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI, Request, Response
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from shared.logging import get_logger
from shared.observe import observe_app
from shared.queue_metrics import QueueGauges
from shared.settings import PlatformSettings

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
            from shared.outbox import outbox_backlog

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
