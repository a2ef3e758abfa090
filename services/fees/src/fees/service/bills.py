"""A branch's dues list of a month (收缴名单): its bills with the members' names, its totals, and
the members it could not bill for want of a fee profile."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# A branch has tens of members, a few hundred at most: the list of those without a profile is
# shown whole up to this, with the count beside it.
MISSING_SHOWN = 1_000


@dataclass(frozen=True)
class BillLine:
    id: uuid.UUID
    member_id: uuid.UUID
    member_name: str
    amount_fen: int
    status: str
    paid_at: datetime | None
    channel: str | None


@dataclass(frozen=True)
class Totals:
    count: int
    due_fen: int
    paid_count: int
    paid_fen: int


@dataclass(frozen=True)
class MissingProfile:
    member_id: uuid.UUID
    name: str


async def bill_lines(
    session: AsyncSession,
    branch_id: uuid.UUID,
    month: date,
    after: tuple[str, uuid.UUID] | None,
    limit: int,
) -> list[BillLine]:
    """Up to `limit` bills by member name, after the keyset position `after`."""
    rows = await session.execute(
        text(
            "SELECT b.id, b.member_id, m.name AS member_name, b.amount_fen, b.status, b.paid_at, "
            "b.channel FROM bills b JOIN fee_members m USING (member_id) "
            "WHERE b.branch_id = :branch AND b.month = :month AND b.status <> 'void' "
            "AND (CAST(:after_name AS text) IS NULL OR (m.name, b.member_id) > (:after_name, :after_id)) "
            "ORDER BY m.name, b.member_id LIMIT :limit"
        ),
        {
            "branch": branch_id,
            "month": month,
            "after_name": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [BillLine(**row._mapping) for row in rows]


async def totals(session: AsyncSession, branch_id: uuid.UUID, month: date) -> Totals:
    row = (
        await session.execute(
            text(
                "SELECT count(*) AS count, coalesce(sum(amount_fen), 0) AS due_fen, "
                "count(*) FILTER (WHERE status = 'paid') AS paid_count, "
                "coalesce(sum(amount_fen) FILTER (WHERE status = 'paid'), 0) AS paid_fen "
                "FROM bills WHERE branch_id = :branch AND month = :month AND status <> 'void'"
            ),
            {"branch": branch_id, "month": month},
        )
    ).one()
    return Totals(**{name: int(value) for name, value in row._mapping.items()})


async def missing_profiles(
    session: AsyncSession, branch_id: uuid.UUID
) -> tuple[list[MissingProfile], int]:
    """Active members of the branch without a fee profile (未填写缴费信息), and how many."""
    rows = (
        await session.execute(
            text(
                "SELECT m.member_id, m.name, count(*) OVER () AS total FROM fee_members m "
                "LEFT JOIN fee_profiles p USING (member_id) "
                "WHERE m.branch_id = :branch AND m.status = 'active' AND p.member_id IS NULL "
                "ORDER BY m.name, m.member_id LIMIT :shown"
            ),
            {"branch": branch_id, "shown": MISSING_SHOWN},
        )
    ).all()
    return [MissingProfile(r.member_id, r.name) for r in rows], int(rows[0].total) if rows else 0
