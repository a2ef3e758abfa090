"""Entry points of the activities service (activities, sign-ups, notifications, announcements).

A skeleton for now: the process shape, settings and /healthz; its domain arrives with its issue.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from activities.settings import ActivitiesSettings
from shared.cli import run_cli
from shared.process import ServiceSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def make_spec(settings: ActivitiesSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="activities",
        settings=settings or ActivitiesSettings(),
        root=SERVICE_ROOT,
        has_database=False,
    )


def create_app(settings: ActivitiesSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
