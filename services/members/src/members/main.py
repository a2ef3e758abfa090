"""Entry points of the members service (member records, batch import, reviews, spot checks).

A skeleton for now: the process shape, settings and /healthz; its domain arrives with its issue.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from members.settings import MembersSettings
from shared.app import ServiceSpec, create_service_app
from shared.cli import run_cli

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def make_spec(settings: MembersSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="members",
        settings=settings or MembersSettings(),
        root=SERVICE_ROOT,
        has_database=False,
    )


def create_app(settings: MembersSettings | None = None) -> FastAPI:
    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
