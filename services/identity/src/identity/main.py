"""Entry points of the identity service: `zhtj-identity api|relay|consume|migrate|topology|dlq|bootstrap`."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from fastapi import FastAPI

from identity.api import internal, router
from identity.bootstrap import bootstrap
from identity.handlers import subscriptions
from identity.settings import IdentitySettings
from identity.tokens import load_or_create_signing_key
from shared.app import Resources, ServiceSpec, create_service_app
from shared.cli import run_cli

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def key_file(settings: IdentitySettings) -> Path:
    return settings.jwt_private_key_file or settings.platform.var_dir / "keys" / "jwt_ed25519.pem"


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    settings = resources.settings
    assert isinstance(settings, IdentitySettings)
    resources.extra["signing_key"] = load_or_create_signing_key(key_file(settings))


def make_spec(settings: IdentitySettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="identity",
        settings=settings or IdentitySettings(),
        root=SERVICE_ROOT,
        routers=[router, internal],
        subscriptions=subscriptions,
        on_startup=_on_startup,
    )


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    return create_service_app(make_spec(settings))


def _bootstrap(spec: ServiceSpec, _: argparse.Namespace) -> int:
    assert isinstance(spec.settings, IdentitySettings)
    print(json.dumps(asyncio.run(bootstrap(spec.settings)), ensure_ascii=False))
    return 0


def cli() -> None:
    raise SystemExit(run_cli(make_spec, extra={"bootstrap": (_bootstrap, lambda _: None)}))
