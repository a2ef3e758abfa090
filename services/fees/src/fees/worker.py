"""Work-queue consumers of the fees service (the `worker` role, `fees-worker` in the launcher):
the month start's bill generation, a chunk of branches a command. Scaled by queue length."""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from fees.commands import GENERATE_BILLS_QUEUE, GenerateBills
from fees.db import FeeCycle
from fees.domain.months import label
from fees.rules import fee_rules
from fees.service import cycles, holdings
from fees.settings import FeesSettings
from shared.bus import Subscription
from shared.calendar import BEIJING, beijing_today, default_calendar
from shared.events import Envelope, Event
from shared.inbox import with_inbox
from shared.logging import get_logger
from shared.process import Resources

log = get_logger(__name__)


def work(resources: Resources) -> list[Subscription]:
    settings = resources.settings
    assert isinstance(settings, FeesSettings)

    async def generate(session: AsyncSession, command: Event, _: Envelope) -> None:
        assert isinstance(command, GenerateBills)
        done = await cycles.generate_bills(session, command.month, command.chunk_no)
        if done is None:
            log.info("fee_chunk_done_already", month=label(command.month), chunk=command.chunk_no)
            return
        if settings.fault_exit_in_chunk:
            log.warning("fee_fault_exit_in_chunk", chunk=command.chunk_no, bills=done.bills)
            os._exit(17)
        # The cycle's progress on every chunk, for operators following the month start in logs.
        log.info(
            "fee_chunk_generated",
            month=label(command.month),
            chunk=command.chunk_no,
            bills=done.bills,
            chunks_done=done.cycle.chunks_done,
            chunks_total=done.cycle.chunks_total,
            cycle_bills=done.cycle.bills,
            finished=done.cycle.finished_at is not None,
        )

    handler = with_inbox(resources.sessions, GENERATE_BILLS_QUEUE, generate)
    # One chunk at a time per worker: another worker takes the next, and a worker that dies
    # hands back only the chunk it held.
    return [Subscription(GENERATE_BILLS_QUEUE, {GenerateBills.type: handler}, prefetch=1)]


# The cycle opens by itself at 00:05 Beijing time on the 1st (and, should every worker have been
# down then, as soon as one is back): every worker looks each minute, and the month's unique
# cycle row makes all but the first look a no-op.
OPENS_AT = time(0, 5)
LOOK_EVERY_SECONDS = 60.0


def cycle_due(now: datetime) -> date | None:
    """The month whose cycle should be open at `now` (Beijing time), from 00:05 on its 1st."""
    if now.day == 1 and now.time() < OPENS_AT:
        return None
    return now.date().replace(day=1)


async def open_cycles_on_time(resources: Resources, stop: asyncio.Event) -> None:
    settings = resources.settings
    assert isinstance(settings, FeesSettings)
    schedule = fee_rules(settings).schedule
    opened: date | None = None
    while not stop.is_set():
        month = cycle_due(datetime.now(BEIJING))
        if month is not None and month != opened:
            try:
                async with resources.sessions() as session, session.begin():
                    if await session.get(FeeCycle, month) is None:
                        await cycles.open_cycle(
                            session,
                            None,
                            month,
                            today=month,
                            rate_table=schedule.in_force(month).name,
                        )
                opened = month
            except Exception as exc:  # the database away: look again next minute
                log.warning(
                    "fee_cycle_auto_open_failed", month=label(month), error=type(exc).__name__
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LOOK_EVERY_SECONDS)


# Overdue holdings are looked for every quarter of an hour: a day late is told that day.
OVERDUE_LOOK_EVERY_SECONDS = 900.0


async def tell_overdue_on_time(resources: Resources, stop: asyncio.Event) -> None:
    """Tells each holding that became overdue (fee.remittance_overdue), once; every worker
    looks, and the notices' primary key lets only one tell."""
    calendar = default_calendar()
    while not stop.is_set():
        try:
            async with resources.sessions() as session, session.begin():
                told = await holdings.tell_newly_overdue(session, calendar, beijing_today())
            if told:
                log.info("fee_overdue_told", holdings=told)
        except Exception as exc:  # the database away: look again next time
            log.warning("fee_overdue_look_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), OVERDUE_LOOK_EVERY_SECONDS)


async def worker_duties(resources: Resources, stop: asyncio.Event) -> None:
    """What every worker does besides its queue: open the month's cycle on time, tell overdue
    holdings."""
    await asyncio.gather(
        open_cycles_on_time(resources, stop), tell_overdue_on_time(resources, stop)
    )
