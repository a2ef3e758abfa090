"""The month start's progress as Prometheus gauges, read from the latest cycle when /metrics is
scraped: chunks done of total, bills so far, and whether it has finished; and how many
holdings have gone overdue. An alert on a cycle
not finished by morning, or a dashboard of the peak, reads these."""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fees.domain.months import label
from shared.calendar import beijing_today

CYCLE_CHUNKS = Gauge(
    "fee_cycle_chunks", "Chunks of branches of the latest dues cycle", ["month", "state"]
)
CYCLE_BILLS = Gauge("fee_cycle_bills", "Bills generated so far in the latest dues cycle", ["month"])
CYCLE_FINISHED = Gauge(
    "fee_cycle_finished", "1 once every chunk of the latest dues cycle is done", ["month"]
)
CYCLE_SECONDS = Gauge(
    "fee_cycle_seconds", "From opening the latest cycle to its last chunk (or to now)", ["month"]
)

# What the morning alert reads: this month's cycle (Beijing's month) is done. 0 while it runs,
# and 0 when it was never opened, which is the worse case.
CURRENT_FINISHED = Gauge(
    "fee_current_cycle_finished", "1 once this month's dues cycle has finished, else 0"
)

OVERDUE_HOLDINGS = Gauge(
    "fee_overdue_holdings",
    "Holdings (an organisation's money of a month) told overdue so far: it only grows",
)


async def refresh_cycle_gauges(session: AsyncSession) -> None:
    # Written by the fees-workers every 15 minutes (holdings.tell_newly_overdue): a count, not
    # the overdue query itself, so a scrape costs nothing at province scale.
    OVERDUE_HOLDINGS.set(await session.scalar(text("SELECT count(*) FROM overdue_notices")) or 0)
    cycle = (
        await session.execute(
            text(
                "SELECT month, chunks_total, chunks_done, bills, finished_at IS NOT NULL AS done, "
                "extract(epoch FROM coalesce(finished_at, now()) - started_at) AS seconds "
                "FROM fee_cycles ORDER BY month DESC LIMIT 1"
            )
        )
    ).first()
    this_month = beijing_today().replace(day=1)
    CURRENT_FINISHED.set(
        1
        if await session.scalar(
            text("SELECT finished_at IS NOT NULL FROM fee_cycles WHERE month = :m"),
            {"m": this_month},
        )
        else 0
    )
    # Only the latest cycle is shown: a month's labels left behind would read as current.
    for gauge in (CYCLE_CHUNKS, CYCLE_BILLS, CYCLE_FINISHED, CYCLE_SECONDS):
        gauge.clear()
    if cycle is None:
        return
    month = label(cycle.month)
    CYCLE_CHUNKS.labels(month, "total").set(cycle.chunks_total)
    CYCLE_CHUNKS.labels(month, "done").set(cycle.chunks_done)
    CYCLE_BILLS.labels(month).set(cycle.bills)
    CYCLE_FINISHED.labels(month).set(1 if cycle.done else 0)
    CYCLE_SECONDS.labels(month).set(float(cycle.seconds))
