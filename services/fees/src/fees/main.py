"""Entry points of the fees service: `zhtj-fees api|events|worker|relay|consume|migrate|topology|dlq`
and the operator's `open-cycle`, `check-conservation`, `recompute-amounts` and `trace`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from fees.handlers import subscriptions
from fees.provider import FakeProvider
from fees.rules import fee_rules
from fees.settings import FeesSettings
from fees.worker import work, worker_duties
from shared.calendar import beijing_today, default_calendar
from shared.cli import run_cli
from shared.crypto import derive_key
from shared.process import Resources, ServiceSpec, resources_of

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
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


async def _on_scrape(session: AsyncSession) -> None:
    from fees.metrics import refresh_cycle_gauges

    await refresh_cycle_gauges(session)


def _routers() -> Sequence[APIRouter]:
    # Imported here, not above: the events role never loads the HTTP layer.
    from fees.api import internal, router

    return [router, internal]


def make_spec(settings: FeesSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="fees",
        settings=settings or FeesSettings(),
        root=SERVICE_ROOT,
        routers=_routers,
        subscriptions=subscriptions,
        work=work,
        worker_duty=worker_duties,
        on_startup=_on_startup,
        on_scrape=_on_scrape,
    )


def create_app(settings: FeesSettings | None = None) -> FastAPI:
    from shared.app import create_service_app

    return create_service_app(make_spec(settings))


def _with_database(spec: ServiceSpec, use: Callable[[Resources], Awaitable[T]]) -> T:
    """Run an operator command's use case against the service's database, then let go of it."""

    async def run() -> T:
        async with resources_of(spec.settings) as resources:
            return await use(resources)

    return asyncio.run(run())


def _open_cycle(spec: ServiceSpec, args: argparse.Namespace) -> int:
    """`zhtj-fees open-cycle [--month YYYY-MM]`: what POST /fee-cycles does, for an operator on
    the machine (default: this month, Beijing time); safe to repeat."""
    from fees.domain.months import label, parse_month
    from fees.service.cycles import open_cycle

    today = beijing_today()
    month = parse_month(args.month) if args.month else today.replace(day=1)

    assert isinstance(spec.settings, FeesSettings)
    table = fee_rules(spec.settings).schedule.in_force(month).name

    async def use(resources: Resources) -> dict[str, object]:
        async with resources.sessions() as session, session.begin():
            state = await open_cycle(session, None, month, today=today, rate_table=table)
        return {
            "month": label(state.month),
            "chunks_total": state.chunks_total,
            "chunks_done": state.chunks_done,
            "bills": state.bills,
            "profiles_on_other_tables": state.profiles_on_other_tables,
        }

    print(json.dumps(_with_database(spec, use)))
    return 0


def _check_conservation(spec: ServiceSpec, args: argparse.Namespace) -> int:
    """`zhtj-fees check-conservation --month YYYY-MM`: paid = retained + passed on + held, to
    the fen, and every remittance carrying what it says; exit 1, naming the sender, if not."""
    from fees.domain.months import parse_month
    from fees.service.remittances import Conservation, conservation

    month = parse_month(args.month)

    async def use(resources: Resources) -> Conservation:
        async with resources.sessions() as session:
            return await conservation(session, month)

    found = _with_database(spec, use)
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


def _recompute_amounts(spec: ServiceSpec, args: argparse.Namespace) -> int:
    """`zhtj-fees recompute-amounts [--on YYYY-MM-DD]`: every profile's monthly amount by the
    table in force on that day (default today, Beijing time), before that month's cycle opens.
    Prints progress to stderr and one JSON line; exit 1 if some profiles could not be billed by
    the table (listed by member id, for their admins to correct)."""
    from fees.service.amounts import Recomputation, recompute_amounts

    on = date.fromisoformat(args.on) if args.on else beijing_today()
    assert isinstance(spec.settings, FeesSettings)
    rules = fee_rules(spec.settings)

    def progress(done: Recomputation) -> None:
        print(
            f"{done.table}: {done.checked} profiles checked, {done.changed} changed",
            file=sys.stderr,
        )

    done = _with_database(
        spec, lambda resources: recompute_amounts(resources.sessions, rules, on, progress)
    )
    print(
        json.dumps(
            {
                "table": done.table,
                "checked": done.checked,
                "changed": done.changed,
                "refused": [{"member_id": str(m), "code": c} for m, c in done.refused.items()],
            }
        )
    )
    return 1 if done.refused else 0


def _trace(spec: ServiceSpec, args: argparse.Namespace) -> int:
    """`zhtj-fees trace <remittance-id>`: the remittance, the child remittances it carries, down
    to every payment, as a tree with amounts, organisations, dates and trace ids (streamed: a
    province's walk is a million lines)."""
    from fees.service.walk import walk_lines
    from shared.problems import Problem

    async def use(resources: Resources) -> None:
        async with resources.sessions() as session:
            async for line in walk_lines(session, args.remittance_id):
                print(line)

    try:
        _with_database(spec, use)
    except Problem as refused:
        print(refused.detail, file=sys.stderr)
        return 1
    return 0


def _remittance_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("remittance_id", type=uuid.UUID, help="the remittance's id")


def _month_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", required=True, help="YYYY-MM")


def _open_cycle_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="YYYY-MM (default: this month, Beijing time)")


def _on_day_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on", help="YYYY-MM-DD (default: today, Beijing time)")


def cli() -> None:
    raise SystemExit(
        run_cli(
            make_spec,
            extra={
                "open-cycle": (_open_cycle, _open_cycle_args),
                "check-conservation": (_check_conservation, _month_arg),
                "recompute-amounts": (_recompute_amounts, _on_day_arg),
                "trace": (_trace, _remittance_arg),
            },
        )
    )
