"""Entry points of the fees service: `zhtj-fees api|events|worker|relay|consume|migrate|topology|dlq|open-cycle|check-conservation`."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fees.handlers import subscriptions
from fees.provider import FakeProvider
from fees.rules import fee_rules
from fees.settings import FeesSettings
from fees.worker import open_cycles_on_time, work
from shared.calendar import beijing_today, default_calendar
from shared.cli import run_cli
from shared.crypto import derive_key
from shared.process import Resources, ServiceSpec, build_resources

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

SERVICE_ROOT = Path(__file__).resolve().parents[2]


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    settings = resources.settings
    assert isinstance(settings, FeesSettings)
    resources.extra["rules"] = fee_rules(settings)
    resources.extra["calendar"] = default_calendar()
    resources.extra["provider"] = FakeProvider() if settings.provider == "fake" else None
    resources.extra["callback_key"] = (
        settings.provider_secret.encode()
        if settings.provider_secret
        else derive_key(settings.platform.internal_secret, "fees/provider-callbacks")
    )


def _routers() -> Sequence[APIRouter]:
    # Imported here, not above: the events role never loads the HTTP layer.
    from fees.api import router

    return [router]


def make_spec(settings: FeesSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="fees",
        settings=settings or FeesSettings(),
        root=SERVICE_ROOT,
        routers=_routers,
        subscriptions=subscriptions,
        work=work,
        worker_duty=open_cycles_on_time,
        on_startup=_on_startup,
    )


def create_app(settings: FeesSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def _open_cycle(spec: ServiceSpec, args: argparse.Namespace) -> int:
    """`zhtj-fees open-cycle [--month YYYY-MM]`: what POST /fee-cycles does, for an operator on
    the machine (default: this month, Beijing time); safe to repeat."""
    from fees.domain.months import label, parse_month
    from fees.service.cycles import open_cycle

    today = beijing_today()
    month = parse_month(args.month) if args.month else today.replace(day=1)

    async def run() -> dict[str, object]:
        resources = build_resources(spec.settings)
        try:
            async with resources.sessions() as session, session.begin():
                state = await open_cycle(session, None, month, today=today)
        finally:
            await resources.engine.dispose()
        return {
            "month": label(state.month),
            "chunks_total": state.chunks_total,
            "chunks_done": state.chunks_done,
            "bills": state.bills,
        }

    print(json.dumps(asyncio.run(run())))
    return 0


def _check_conservation(spec: ServiceSpec, args: argparse.Namespace) -> int:
    """`zhtj-fees check-conservation --month YYYY-MM`: paid = retained + passed on + held, to
    the fen, and every remittance carrying what it says; exit 1, naming the sender, if not."""
    from fees.domain.months import parse_month
    from fees.service.remittances import conservation

    month = parse_month(args.month)

    async def run() -> Any:
        resources = build_resources(spec.settings)
        try:
            async with resources.sessions() as session:
                return await conservation(session, month)
        finally:
            await resources.engine.dispose()

    found = asyncio.run(run())
    print(
        json.dumps(
            {
                "month": args.month,
                "holds": found.holds,
                "paid_fen": found.paid_fen,
                "retained_fen": found.retained_fen,
                "passed_on_fen": found.passed_on_fen,
                "held_fen": found.held_fen,
                "broken": [{"remittance_id": str(r), "org_id": str(o)} for r, o in found.broken],
            }
        )
    )
    return 0 if found.holds else 1


def _month_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", required=True, help="YYYY-MM")


def _open_cycle_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="YYYY-MM (default: this month, Beijing time)")


def cli() -> None:
    raise SystemExit(
        run_cli(
            make_spec,
            extra={
                "open-cycle": (_open_cycle, _open_cycle_args),
                "check-conservation": (_check_conservation, _month_arg),
            },
        )
    )
