"""Entry points of the fees service: `zhtj-fees api|events|worker|relay|consume|migrate|topology|dlq`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fees.handlers import subscriptions
from fees.rules import fee_rules
from fees.settings import FeesSettings
from fees.worker import work
from shared.cli import run_cli
from shared.process import Resources, ServiceSpec

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    settings = resources.settings
    assert isinstance(settings, FeesSettings)
    resources.extra["rules"] = fee_rules(settings)


def _routers() -> Sequence[APIRouter]:
    # Imported here, not above: the events role never loads the HTTP layer.
    from fees.api import router

    return [router]


def make_spec(settings: FeesSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="fees",
        settings=settings or FeesSettings(),
        root=SERVICE_ROOT,
        routers=_routers,
        subscriptions=subscriptions,
        work=work,
        on_startup=_on_startup,
    )


def create_app(settings: FeesSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
