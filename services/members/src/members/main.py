"""Entry points of the members service: `zhtj-members api|relay|consume|migrate|topology|dlq|rotate-id-key`."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from members.handlers import subscriptions
from members.keys import rotate
from members.protection import id_protection
from members.settings import MembersSettings
from shared.calendar import default_calendar
from shared.cli import run_cli
from shared.orgtree import OrgDirectory
from shared.process import Resources, ServiceSpec, build_resources

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    settings = resources.settings
    assert isinstance(settings, MembersSettings)
    resources.extra["protection"] = id_protection(settings)
    resources.extra["directory"] = OrgDirectory(settings.org_url, settings.platform.internal_secret)
    resources.extra["calendar"] = default_calendar()


def _routers() -> Sequence[APIRouter]:
    # Imported here, not above: the events role never loads the HTTP layer.
    from members.api import internal, router
    from members.reports_api import router as reports

    return [router, reports, internal]


def make_spec(settings: MembersSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="members",
        settings=settings or MembersSettings(),
        root=SERVICE_ROOT,
        routers=_routers,
        subscriptions=subscriptions,
        on_startup=_on_startup,
    )


def create_app(settings: MembersSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def _rotate(spec: ServiceSpec, _: argparse.Namespace) -> int:
    settings = spec.settings
    assert isinstance(settings, MembersSettings)

    async def run() -> int:
        resources = build_resources(settings)
        try:
            return await rotate(resources, id_protection(settings))
        finally:
            await resources.engine.dispose()

    count = asyncio.run(run())
    print(
        json.dumps(
            {"re_encrypted": count, "active_key": id_protection(settings).sealer.active_key_id}
        )
    )
    return 0


def cli() -> None:
    raise SystemExit(run_cli(make_spec, extra={"rotate-id-key": (_rotate, lambda _: None)}))
