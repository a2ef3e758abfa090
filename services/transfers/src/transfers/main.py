"""Entry points of the transfers service (organisation-relationship transfers).

Its rules (transfers/domain), use cases (transfers/service.py) and event-fed copies
(transfers/handlers.py) exist and are tested; the process serves only /healthz until the members
side of the saga exists (issue 8).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shared.cli import run_cli
from shared.process import ServiceSpec
from transfers.handlers import subscriptions
from transfers.settings import TransfersSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def make_spec(settings: TransfersSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="transfers",
        settings=settings or TransfersSettings(),
        root=SERVICE_ROOT,
        subscriptions=subscriptions,
        # Not served with a database yet: the members side of the saga comes first (issue 8).
        has_database=False,
    )


def create_app(settings: TransfersSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
