"""Entry points of the org service: `zhtj-org api|relay|consume|migrate|topology|dlq`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from org.api import internal, router
from org.handlers import subscriptions
from org.settings import OrgSettings
from org.storage import LocalDiskStorage
from shared.app import Resources, ServiceSpec, create_service_app
from shared.calendar import default_calendar
from shared.cli import run_cli

SERVICE_ROOT = Path(__file__).resolve().parents[2]


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    settings = resources.settings
    assert isinstance(settings, OrgSettings)
    resources.extra["calendar"] = default_calendar()
    resources.extra["storage"] = LocalDiskStorage(settings.documents_dir)


def make_spec(settings: OrgSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="org",
        settings=settings or OrgSettings(),
        root=SERVICE_ROOT,
        routers=[router, internal],
        subscriptions=subscriptions,
        on_startup=_on_startup,
    )


def create_app(settings: OrgSettings | None = None) -> FastAPI:
    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
