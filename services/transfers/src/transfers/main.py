"""Entry points of the transfers service (organisation-relationship transfers):
`zhtj-transfers api|relay|consume|events|migrate|topology|dlq`."""

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
    from transfers.api import internal, router

    return [router, internal]


def make_spec(settings: TransfersSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="transfers",
        settings=settings or TransfersSettings(),
        root=SERVICE_ROOT,
        routers=_routers,
        subscriptions=subscriptions,
        on_startup=_on_startup,
    )


def create_app(settings: TransfersSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
