"""Entry points of the org service: `zhtj-org api|relay|consume|migrate|topology|dlq`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from org.handlers import subscriptions
from org.settings import OrgSettings
from org.storage import LocalDiskStorage
from shared.calendar import default_calendar
from shared.cli import run_cli
from shared.process import Resources, ServiceSpec

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    settings = resources.settings
    assert isinstance(settings, OrgSettings)
    resources.extra["calendar"] = default_calendar()
    resources.extra["storage"] = LocalDiskStorage(settings.documents_dir)


def _routers() -> Sequence[APIRouter]:
    # Imported here, not above: the events role never loads the HTTP layer.
    from org.api import internal, router
    from org.supervision_api import router as supervision

    return [router, supervision, internal]


def make_spec(settings: OrgSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="org",
        settings=settings or OrgSettings(),
        root=SERVICE_ROOT,
        routers=_routers,
        subscriptions=subscriptions,
        on_startup=_on_startup,
    )


def create_app(settings: OrgSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
