"""Money an organisation holds and has not remitted (留存外应上缴未上缴): a branch's paid bills,
a higher organisation's received remittances. Past the due date a remittance would have had
(5 working days for a branch, 10 above, from the first money it holds), the holding is overdue:
listed and counted over a subtree, so an admin sees who sits on the dues."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fees.service import PRODUCER
from fees.service.remittances import BRANCH_DUE_WORKING_DAYS, HIGHER_DUE_WORKING_DAYS
from shared.calendar import BEIJING, WorkingDayCalendar
from shared.events import RemittanceOverdue
from shared.outbox import record_events

# One row per organisation of the subtree and month holding money since on or before its
# cutoff, over the partial indexes of what is held (bills_held, remittances_held). Holding 0
# fen (0-fen bills paid, a remittance all of which its sender kept) is holding nothing: it
# cannot be remitted (fee.nothing_to_remit), so it must not stand overdue for ever.
OVERDUE_SQL = """
WITH subtree AS (
  SELECT id, name, org_type FROM org_replica WHERE path @> ARRAY[CAST(:org AS uuid)]
), held AS (
  SELECT branch_id AS org_id, month, sum(amount_fen) AS held_fen, min(paid_at) AS since
  FROM bills
  WHERE status = 'paid' AND remittance_id IS NULL AND branch_id IN (SELECT id FROM subtree)
    AND (CAST(:month AS date) IS NULL OR month = :month)
  GROUP BY branch_id, month
  HAVING (min(paid_at) AT TIME ZONE 'Asia/Shanghai')::date <= :branch_cutoff
    AND sum(amount_fen) > 0
  UNION ALL
  SELECT to_org_id, month, sum(amount_fen), min(received_at)
  FROM remittances
  WHERE status = 'received' AND onward_id IS NULL AND to_org_id IN (SELECT id FROM subtree)
    AND (CAST(:month AS date) IS NULL OR month = :month)
  GROUP BY to_org_id, month
  HAVING (min(received_at) AT TIME ZONE 'Asia/Shanghai')::date <= :higher_cutoff
    AND sum(amount_fen) > 0
)
"""
LIST_SQL = (
    OVERDUE_SQL
    + """
SELECT held.*, s.name, s.org_type FROM held JOIN subtree s ON s.id = held.org_id
WHERE CAST(:after_since AS timestamptz) IS NULL
   OR (held.since, held.org_id, held.month) > (CAST(:after_since AS timestamptz), :after_org,
                                               CAST(:after_month AS date))
ORDER BY held.since, held.org_id, held.month
LIMIT :limit
"""
)
COUNT_SQL = OVERDUE_SQL + "SELECT count(*) FROM held"  # noqa: S608 (constants only)


@dataclass(frozen=True)
class OverdueHolding:
    org_id: uuid.UUID
    org_name: str
    org_type: str
    month: date
    held_fen: int
    since: datetime  # the first money of it arrived
    due_by: date  # when it should have gone up at the latest


def _cutoffs(calendar: WorkingDayCalendar, today: date) -> dict[str, date]:
    return {
        "branch_cutoff": calendar.last_start_overdue_on(today, BRANCH_DUE_WORKING_DAYS),
        "higher_cutoff": calendar.last_start_overdue_on(today, HIGHER_DUE_WORKING_DAYS),
    }


async def overdue_holdings(
    session: AsyncSession,
    calendar: WorkingDayCalendar,
    org_id: uuid.UUID,
    *,
    today: date,
    month: date | None,
    after: tuple[datetime, uuid.UUID, date] | None,
    limit: int,
) -> list[OverdueHolding]:
    """The subtree's overdue holdings, longest held first."""
    rows = await session.execute(
        text(LIST_SQL),
        {
            "org": org_id,
            "month": month,
            "after_since": after[0] if after else None,
            "after_org": after[1] if after else None,
            "after_month": after[2] if after else None,
            "limit": limit,
            **_cutoffs(calendar, today),
        },
    )
    return [_holding(calendar, row) for row in rows]


def _holding_due(calendar: WorkingDayCalendar, row: Any) -> date:
    days = BRANCH_DUE_WORKING_DAYS if row.org_type == "branch" else HIGHER_DUE_WORKING_DAYS
    since: datetime = row.since
    return calendar.add_working_days(since.astimezone(BEIJING).date(), days)


def _holding(calendar: WorkingDayCalendar, row: Any) -> OverdueHolding:
    return OverdueHolding(
        row.org_id,
        row.name,
        row.org_type,
        row.month,
        int(row.held_fen),
        row.since,
        _holding_due(calendar, row),
    )


async def count_overdue_holdings(
    session: AsyncSession,
    calendar: WorkingDayCalendar,
    org_id: uuid.UUID,
    *,
    today: date,
    month: date,
) -> int:
    found = await session.scalar(
        text(COUNT_SQL), {"org": org_id, "month": month, **_cutoffs(calendar, today)}
    )
    return int(found or 0)


# Overdue holdings of the whole province not yet told, marked told in the same statement; in
# key order, so that workers looking at once wait for each other on a notice's key instead of
# deadlocking over two of them.
NEWLY_OVERDUE_SQL = (
    OVERDUE_SQL  # noqa: S608 (constants only)
    + """
, told AS (
  INSERT INTO overdue_notices (org_id, month, since)
  SELECT org_id, month, since FROM held
  ORDER BY org_id, month, since
  ON CONFLICT DO NOTHING
  RETURNING org_id, month, since
)
SELECT held.*, s.org_type, o.parent_id FROM held
JOIN told USING (org_id, month, since)
JOIN subtree s ON s.id = held.org_id
JOIN org_replica o ON o.id = held.org_id
"""
)


async def tell_newly_overdue(
    session: AsyncSession, calendar: WorkingDayCalendar, today: date
) -> int:
    """`fee.remittance_overdue` for every holding that became overdue since the last look, once
    per holding however many workers look at once (the notice's primary key): an organisation
    that remitted late and then sits on money of the same month again is told again."""
    root = await session.scalar(text("SELECT id FROM org_replica WHERE parent_id IS NULL"))
    if root is None:
        return 0
    rows = list(
        await session.execute(
            text(NEWLY_OVERDUE_SQL), {"org": root, "month": None, **_cutoffs(calendar, today)}
        )
    )
    await record_events(
        session,
        [
            RemittanceOverdue(
                org_id=row.org_id,
                parent_id=row.parent_id,
                month=f"{row.month:%Y-%m}",
                held_fen=int(row.held_fen),
                due_by=_holding_due(calendar, row),
            )
            for row in rows
        ],
        PRODUCER,
    )
    return len(rows)
