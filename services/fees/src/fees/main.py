"""Entry points of the fees service (dues profiles, cycles, bills, payments, remittances).

A skeleton for now: the process shape, settings and /healthz; its domain arrives with its issue.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fees.settings import FeesSettings
from shared.cli import run_cli
from shared.process import ServiceSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def make_spec(settings: FeesSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="fees", settings=settings or FeesSettings(), root=SERVICE_ROOT, has_database=False
    )


def create_app(settings: FeesSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def cli() -> None:
    raise SystemExit(run_cli(make_spec))
