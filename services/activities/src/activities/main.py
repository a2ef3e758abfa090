"""Entry points of the activities service (activities, sign-ups, notifications):
`zhtj-activities api|events|relay|consume|migrate|topology|dlq`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from activities.handlers import subscriptions
from activities.settings import ActivitiesSettings
from shared.cli import run_cli
from shared.process import ServiceSpec

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def _routers() -> Sequence[APIRouter]:
    # Imported here, not above: a process that serves no HTTP never loads the HTTP layer.
    from activities.api import internal, router

    return [router, internal]


def make_spec(settings: ActivitiesSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="activities",
        settings=settings or ActivitiesSettings(),
        root=SERVICE_ROOT,
        routers=_routers,
        subscriptions=subscriptions,
    )


def create_app(settings: ActivitiesSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
