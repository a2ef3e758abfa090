"""Paying a bill: cash the branch records, once, whatever races; each payment keeps the trace
context of the request that made it, for the remittance that later carries it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fees.domain.months import label
from fees.service import PRODUCER
from shared.audit import audit
from shared.caller import Caller
from shared.events import FeePaid
from shared.orgtree import is_admin_over, replica_node
from shared.outbox import record_event
from shared.problems import Problem
from shared.telemetry import inject_context


@dataclass(frozen=True)
class Payment:
    id: uuid.UUID
    bill_id: uuid.UUID
    amount_fen: int
    channel: str
    paid_at: datetime


def bill_not_found() -> Problem:
    return Problem(404, "fee.bill_not_found", "No such bill, or not one you may see.")


def already_paid() -> Problem:
    return Problem(409, "fee.already_paid", "This bill is paid already.")


async def record_cash(session: AsyncSession, caller: Caller, bill_id: uuid.UUID) -> Payment:
    """Cash handed to the branch: an admin over the bill's branch records it."""
    bill = (
        await session.execute(
            text(
                "SELECT id, member_id, branch_id, month, amount_fen, status FROM bills "
                "WHERE id = :id FOR UPDATE"
            ),
            {"id": bill_id},
        )
    ).first()
    if bill is None:
        raise bill_not_found()
    branch = await replica_node(session, bill.branch_id)
    if branch is None or not is_admin_over(caller, branch.path):
        if caller.member_id == bill.member_id:
            raise Problem(
                403,
                "fee.cash_by_branch_only",
                "Cash is recorded by the branch that received it; pay online instead.",
            )
        raise bill_not_found()
    # The row lock orders concurrent payments of one bill; the partial unique index on paid
    # payments is what guarantees it, should anything ever skip the lock.
    if bill.status == "paid":
        raise already_paid()
    payment_id = uuid.uuid4()
    paid_at = (
        await session.execute(
            text(
                "INSERT INTO payments (id, bill_id, amount_fen, channel, status, recorded_by, "
                "trace_context, paid_at) VALUES (:id, :bill, :amount, 'cash', 'paid', :by, "
                "CAST(:trace AS jsonb), now()) RETURNING paid_at"
            ),
            {
                "id": payment_id,
                "bill": bill.id,
                "amount": bill.amount_fen,
                "by": caller.account_id,
                "trace": json.dumps(inject_context()),
            },
        )
    ).scalar_one()
    await session.execute(
        text("UPDATE bills SET status = 'paid', paid_at = :at, channel = 'cash' WHERE id = :id"),
        {"id": bill.id, "at": paid_at},
    )
    await record_event(
        session,
        FeePaid(
            bill_id=bill.id,
            payment_id=payment_id,
            member_id=bill.member_id,
            branch_id=bill.branch_id,
            month=label(bill.month),
            amount_fen=bill.amount_fen,
            channel="cash",
        ),
        PRODUCER,
    )
    await audit(session, caller, "fee.cash_recorded", "bill", bill.id)
    return Payment(payment_id, bill.id, bill.amount_fen, "cash", paid_at)


@dataclass(frozen=True)
class MemberBill:
    id: uuid.UUID
    month: str
    amount_fen: int
    status: str
    paid_at: datetime | None
    channel: str | None


async def member_bills(
    session: AsyncSession, member_id: uuid.UUID, before: date | None, limit: int
) -> list[MemberBill]:
    """A member's bills, newest month first, before the month `before` (a page's cursor)."""
    rows = await session.execute(
        text(
            "SELECT id, to_char(month, 'YYYY-MM') AS month, amount_fen, status, paid_at, channel "
            "FROM bills WHERE member_id = :m "
            "AND (CAST(:before AS date) IS NULL OR month < :before) "
            "ORDER BY month DESC LIMIT :limit"
        ),
        {"m": member_id, "before": before, "limit": limit},
    )
    return [MemberBill(**row._mapping) for row in rows]
