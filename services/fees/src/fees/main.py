"""Entry points of the fees service: `zhtj-fees api|events|worker|relay|consume|migrate|topology|dlq`
and the operator's `open-cycle`, `check-conservation`, `recompute-amounts`, `trace` and
`give-back`."""

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
from shared.bus import LatestOnly
from shared.calendar import beijing_today, default_calendar
from shared.cli import run_cli
from shared.crypto import derive_key
from shared.process import Resources, ServiceSpec, resources_of

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
SERVICE_ROOT = Path(__file__).resolve().parents[2]


def _provider(settings: FeesSettings) -> FakeProvider | None:
    """The payment provider `FEES_PROVIDER` names (None: no online payment)."""
    return FakeProvider() if settings.provider == "fake" else None


async def _on_startup(resources: Resources, _: FastAPI) -> None:
    settings = resources.settings
    assert isinstance(settings, FeesSettings)
    resources.extra["rules"] = fee_rules(settings)
    resources.extra["calendar"] = default_calendar()
    resources.extra["provider"] = _provider(settings)
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
        # One fee.paid a payment, ~5 million at a month start, and no service consumes them.
        latest_only=[LatestOnly("fees.paid.latest", ("fee.paid",))],
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
    from fees.domain.months import label
    from fees.domain.rates import FeeRuleError
    from fees.service.cycles import open_cycle

    today = beijing_today()
    month: date = args.month or today.replace(day=1)
    settings = spec.settings
    assert isinstance(settings, FeesSettings)

    async def use(resources: Resources) -> dict[str, object]:
        table = fee_rules(settings).schedule.in_force(month).name
        async with resources.sessions() as session, session.begin():
            state = await open_cycle(session, None, month, today=today, rate_table=table)
        return {
            "month": label(state.month),
            "chunks_total": state.chunks_total,
            "chunks_done": state.chunks_done,
            "bills": state.bills,
            "profiles_on_other_tables": state.profiles_on_other_tables,
        }

    try:
        print(json.dumps(_with_database(spec, use)))
    except FeeRuleError as refused:  # a month too far ahead, no table in force
        print(refused, file=sys.stderr)
        return 2
    return 0


def _check_conservation(spec: ServiceSpec, args: argparse.Namespace) -> int:
    """`zhtj-fees check-conservation --month YYYY-MM`: paid = retained + passed on + held, to
    the fen, and every remittance carrying what it says; exit 1, naming the sender, if not."""
    from fees.domain.months import label
    from fees.service.remittances import Conservation, conservation

    month: date = args.month

    async def use(resources: Resources) -> Conservation:
        async with resources.sessions() as session:
            return await conservation(session, month)

    found = _with_database(spec, use)
    print(
        json.dumps(
            {
                "month": label(month),
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
    table in force on that day, before that month's cycle opens; by default this month until
    its cycle opens, then the next (the month a profile set now is priced for too). Prints
    progress to stderr and one JSON line; exit 1 if some profiles could not be billed by the
    table (listed by member id, for their admins to correct)."""
    from fees.domain.rates import FeeRuleError
    from fees.service.amounts import Recomputation, recompute_amounts
    from fees.service.cycles import first_month_billed

    assert isinstance(spec.settings, FeesSettings)
    rules = fee_rules(spec.settings)

    def progress(done: Recomputation) -> None:
        print(
            f"{done.table}: {done.checked} profiles checked, {done.changed} changed",
            file=sys.stderr,
        )

    async def use(resources: Resources) -> Recomputation:
        if args.on:
            on: date = args.on
        else:
            async with resources.sessions() as session:
                on = await first_month_billed(session, beijing_today())
        return await recompute_amounts(resources.sessions, rules, on, progress)

    try:
        done = _with_database(spec, use)
    except FeeRuleError as refused:  # no table in force on that day
        print(refused, file=sys.stderr)
        return 2
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


def _give_back(spec: ServiceSpec, _: argparse.Namespace) -> int:
    """`zhtj-fees give-back`: every online payment still owed back (待退款), given back through
    the provider, as an admin's 退款 would, one at a time: after a provider outage. Prints
    progress to stderr and one JSON line; exit 1 if the provider still did not answer for
    some, 2 if no provider is connected."""
    from fees.service.refunds import GivenBack, give_back_all

    assert isinstance(spec.settings, FeesSettings)
    provider = _provider(spec.settings)
    if provider is None:
        print("no payment provider is connected (FEES_PROVIDER)", file=sys.stderr)
        return 2

    def progress(done: GivenBack) -> None:
        print(f"{done.given} given back, {done.still_owed} still owed", file=sys.stderr)

    async def use(resources: Resources) -> GivenBack:
        return await give_back_all(resources.sessions, provider, progress)

    done = _with_database(spec, use)
    print(json.dumps({"given": done.given, "still_owed": done.still_owed}))
    return 1 if done.still_owed else 0


def _no_args(_: argparse.ArgumentParser) -> None:
    pass


def _remittance_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("remittance_id", type=uuid.UUID, help="the remittance's id")


def _month(text: str) -> date:
    """A `--month` as the rules read one; a typo is a usage error (exit 2), never a traceback
    or check-conservation's exit 1, which means money is not where it should be."""
    from fees.domain.months import parse_month
    from fees.domain.rates import FeeRuleError

    try:
        return parse_month(text)
    except FeeRuleError as refused:
        raise argparse.ArgumentTypeError(str(refused)) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def _month_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", type=_month, required=True, help="YYYY-MM")


def _open_cycle_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", type=_month, help="YYYY-MM (default: this month, Beijing time)")


def _on_day_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--on",
        type=_day,
        help="YYYY-MM-DD (default: this month until its cycle opens, then the next)",
    )


def cli() -> None:
    raise SystemExit(
        run_cli(
            make_spec,
            extra={
                "open-cycle": (_open_cycle, _open_cycle_args),
                "check-conservation": (_check_conservation, _month_arg),
                "recompute-amounts": (_recompute_amounts, _on_day_arg),
                "trace": (_trace, _remittance_arg),
                "give-back": (_give_back, _no_args),
            },
        )
    )
