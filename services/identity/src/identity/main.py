"""Entry points of the identity service:
`zhtj-identity api|relay|consume|migrate|topology|dlq|bootstrap|unfreeze|reset-password`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from identity import recovery
from identity.bootstrap import bootstrap
from identity.handlers import subscriptions
from identity.settings import IdentitySettings
from identity.tokens import load_or_create_signing_key
from shared.cli import ExtraCommand, run_cli
from shared.problems import Problem
from shared.process import Resources, ServiceSpec

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

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


def _recover(
    spec: ServiceSpec,
    use_case: Callable[[AsyncSession, IdentitySettings], Awaitable[recovery.Result]],
) -> int:
    """Run an operator's recovery use case; its result is one JSON line, a refusal one line on
    stderr and exit code 1."""
    settings = spec.settings
    assert isinstance(settings, IdentitySettings)
    try:
        result = asyncio.run(recovery.run(settings, lambda session: use_case(session, settings)))
    except Problem as problem:
        print(f"zhtj-{spec.name}: {problem.detail or problem.code}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _unfreeze(spec: ServiceSpec, args: argparse.Namespace) -> int:
    return _recover(spec, lambda session, _: recovery.unfreeze(session, args.username, args.reason))


def _reset_password(spec: ServiceSpec, args: argparse.Namespace) -> int:
    return _recover(
        spec, lambda session, settings: recovery.reset_password(session, args.username, settings)
    )


def _reset_password_args(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Issue a one-time code for a forgotten password (as POST /accounts/{id}/one-time-code"
        " does; /auth/activate takes it) and clear a lockout. Audited as the operator."
    )
    parser.add_argument("--username", required=True)


def _unfreeze_args(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Unfreeze an account (as POST /accounts/{id}/unfreeze does) and clear a lockout."
        " Audited as the operator."
    )
    parser.add_argument("--username", required=True)
    parser.add_argument("--reason", help="why; printed with the result")


COMMANDS: dict[str, tuple[ExtraCommand, Callable[[argparse.ArgumentParser], None]]] = {
    "bootstrap": (_bootstrap, lambda _: None),
    # For when no admin can: every admin frozen or locked out, the root admin's password lost.
    "unfreeze": (_unfreeze, _unfreeze_args),
    "reset-password": (_reset_password, _reset_password_args),
}


def cli(argv: Sequence[str] | None = None) -> None:
    raise SystemExit(run_cli(make_spec, argv, extra=COMMANDS))
