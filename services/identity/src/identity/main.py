"""Entry points of the identity service: `zhtj-identity api|relay|consume|migrate|topology|dlq|bootstrap`."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from identity.bootstrap import bootstrap
from identity.handlers import subscriptions
from identity.settings import IdentitySettings
from identity.tokens import load_or_create_signing_key
from shared.cli import run_cli
from shared.process import Resources, ServiceSpec

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def key_file(settings: IdentitySettings) -> Path:
    return settings.jwt_private_key_file or settings.platform.var_dir / "keys" / "jwt_ed25519.pem"


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    settings = resources.settings
    assert isinstance(settings, IdentitySettings)
    resources.extra["signing_key"] = load_or_create_signing_key(key_file(settings))


def _routers() -> Sequence[APIRouter]:
    # Imported here, not above: the events role never loads the HTTP layer.
    from identity.api import internal, router

    return [router, internal]


def make_spec(settings: IdentitySettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="identity",
        settings=settings or IdentitySettings(),
        root=SERVICE_ROOT,
        routers=_routers,
        subscriptions=subscriptions,
        on_startup=_on_startup,
    )


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def _bootstrap(spec: ServiceSpec, _: argparse.Namespace) -> int:
    assert isinstance(spec.settings, IdentitySettings)
    print(json.dumps(asyncio.run(bootstrap(spec.settings)), ensure_ascii=False))
    return 0


def cli() -> None:
    raise SystemExit(run_cli(make_spec, extra={"bootstrap": (_bootstrap, lambda _: None)}))
