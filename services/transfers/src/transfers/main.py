"""Entry points of the transfers service (organisation-relationship transfers).

Its rules (transfers/domain), use cases (transfers/service.py) and event-fed copies
(transfers/handlers.py) exist and are tested; the process serves only /healthz until the members
side of the saga exists (issue 8).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shared.calendar import default_calendar
from shared.cli import run_cli
from shared.process import Resources, ServiceSpec
from transfers.handlers import subscriptions
from transfers.settings import TransfersSettings

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    resources.extra["calendar"] = default_calendar()


def _routers() -> Sequence[APIRouter]:
    # Imported here, not above: a process that serves no HTTP never loads the HTTP layer.
    from transfers.api import router

    return [router]


def make_spec(settings: TransfersSettings | None = None) -> ServiceSpec:
    settings = settings or TransfersSettings()
    return ServiceSpec(
        name="transfers",
        settings=settings,
        root=SERVICE_ROOT,
        # Not served yet (`TRANSFERS_SERVING`): the members side of the saga comes first.
        routers=_routers if settings.serving else lambda: (),
        subscriptions=subscriptions,
        on_startup=_on_startup,
        has_database=settings.serving,
    )


def create_app(settings: TransfersSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
