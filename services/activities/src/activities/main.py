"""Entry points of the activities service (activities, sign-ups, notifications, announcements).

A skeleton for now: the process shape, settings and /healthz; its domain arrives with its issue.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from activities.settings import ActivitiesSettings
from shared.app import ServiceSpec, create_service_app
from shared.cli import run_cli

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def make_spec(settings: ActivitiesSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="activities",
        settings=settings or ActivitiesSettings(),
        root=SERVICE_ROOT,
        has_database=False,
    )


def create_app(settings: ActivitiesSettings | None = None) -> FastAPI:
    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
