"""Entry points of the identity service:
`zhtj-identity api|relay|consume|migrate|topology|dlq|bootstrap|unfreeze|reset-password`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
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


def _snapshot_usage(spec: ServiceSpec, args: argparse.Namespace) -> int:
    """`zhtj-identity snapshot-usage [--month YYYY-MM]`: keep the month's system usage per
    branch (default: the month that just ended), so that its year's assessment stays as it was
    when members move later. Safe to repeat: the month's snapshot is replaced."""
    from identity.service import snapshot_usage
    from shared.calendar import beijing_today
    from shared.process import build_resources

    first = args.month or (beijing_today().replace(day=1) - timedelta(days=1)).replace(day=1)

    async def run() -> int:
        resources = build_resources(spec.settings, background=True)
        try:
            async with resources.sessions() as session, session.begin():
                return await snapshot_usage(session, first)
        finally:
            await resources.engine.dispose()

    branches = asyncio.run(run())
    print(json.dumps({"month": f"{first:%Y-%m}", "branches": branches}))
    return 0


def _snapshot_usage_args(parser: argparse.ArgumentParser) -> None:
    parser.description = _snapshot_usage.__doc__
    parser.add_argument("--month", type=_month, help="YYYY-MM (default: last month)")


def _month(value: str) -> date:
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a month (YYYY-MM)") from None


COMMANDS: dict[str, tuple[ExtraCommand, Callable[[argparse.ArgumentParser], None]]] = {
    # The assessment's month-end snapshot (a CronJob on the 1st, deploy/k8s).
    "snapshot-usage": (_snapshot_usage, _snapshot_usage_args),
    "bootstrap": (_bootstrap, lambda _: None),
    # For when no admin can: every admin frozen or locked out, the root admin's password lost.
    "unfreeze": (_unfreeze, _unfreeze_args),
    "reset-password": (_reset_password, _reset_password_args),
}


def cli(argv: Sequence[str] | None = None) -> None:
    raise SystemExit(run_cli(make_spec, argv, extra=COMMANDS))
