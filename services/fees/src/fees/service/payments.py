"""Paying a bill: cash the branch records, once, whatever races; each payment keeps the trace
context of the request that made it, for the remittance that later carries it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fees.domain.months import label
from fees.service import PRODUCER
from shared.audit import audit_insert_from, audit_values
from shared.caller import Caller
from shared.events import FeePaid
from shared.orgtree import admin_over_sql, admin_over_values, is_admin_over
from shared.outbox import (
    NOTIFY_RELAY,
    RelayWakeups,
    event_insert_from,
    event_values,
    record_event,
)
from shared.problems import Problem
from shared.reads import Reads, Statement, run
from shared.telemetry import inject_context


@dataclass(frozen=True)
class Payment:
    id: uuid.UUID
    bill_id: uuid.UUID
    amount_fen: int
    channel: str
    # pending (online, until the provider calls back), paid, failed, refund_due (paid nothing:
    # owed back), refunded (given back: service.refunds)
    status: str
    paid_at: datetime | None
    # Why a `refund_due` payment did not pay its bill: "already_paid" (paid another way
    # meanwhile), "amount_changed" (the bill's amount changed after the payment began) or
    # "bill_void" (its member left meanwhile: cycles.follow_into_unbegun_months).
    refund_reason: str | None = None


def bill_not_found() -> Problem:
    return Problem(404, "fee.bill_not_found", "No such bill, or not one you may see.")


def payment_not_found() -> Problem:
    return Problem(404, "fee.payment_not_found", "No online payment has this id.")


def already_paid() -> Problem:
    return Problem(409, "fee.already_paid", "This bill is paid already.")


# A bill with its branch's path, for the scope check.
_BILL = (
    "SELECT b.id, b.member_id, b.branch_id, b.month, b.amount_fen, b.status, "
    "o.path AS branch_path FROM bills b LEFT JOIN org_replica o ON o.id = b.branch_id "
    "WHERE b.id = :bill_id"
)
# The row lock orders an online payment's steps on one bill; the partial unique index on paid
# payments is what guarantees one, should anything ever skip the lock.
_LOCKED_BILL = text(f"{_BILL} FOR UPDATE OF b")


async def _locked_bill(session: AsyncSession, bill_id: uuid.UUID) -> Any:
    """The bill, locked (`bill["column"]`)."""
    bill = (await session.execute(_LOCKED_BILL, {"bill_id": bill_id})).first()
    if bill is None:
        raise bill_not_found()
    return bill._mapping


def _admin_over_bill(caller: Caller, bill: Any) -> bool:
    return bill["branch_path"] is not None and is_admin_over(caller, bill["branch_path"])


async def _new_pending_payment(session: AsyncSession, caller: Caller, bill: Any) -> uuid.UUID:
    payment_id = uuid.uuid4()
    await session.execute(
        text(
            "INSERT INTO payments (id, bill_id, amount_fen, channel, status, recorded_by, "
            "trace_context) VALUES (:id, :bill, :amount, 'online', 'pending', :by, "
            "CAST(:trace AS jsonb))"
        ),
        {
            "id": payment_id,
            "bill": bill["id"],
            "amount": bill["amount_fen"],
            "by": caller.account_id,
            "trace": json.dumps(inject_context()),
        },
    )
    return payment_id


# The month start's payments, cash or online, wake the relay at most every 10 ms from each
# process.
_RELAY_WAKEUPS = RelayWakeups()


async def _announce_paid_online(session: AsyncSession, bill: Any, payment_id: uuid.UUID) -> None:
    paid = FeePaid(
        bill_id=bill["id"],
        payment_id=payment_id,
        member_id=bill["member_id"],
        branch_id=bill["branch_id"],
        month=label(bill["month"]),
        amount_fen=bill["amount_fen"],
        channel="online",
    )
    await record_event(session, paid, PRODUCER, _RELAY_WAKEUPS)


# fee.paid's data (shared.events.FeePaid) from the bill the statement below pays; the
# integration tests read the written event back through the contract.
_FEE_PAID_DATA = (
    "jsonb_build_object('bill_id', id, 'payment_id', CAST(:payment_id AS uuid), "
    "'member_id', member_id, 'branch_id', branch_id, 'month', to_char(month, 'YYYY-MM'), "
    "'amount_fen', amount_fen, 'channel', 'cash')"
)
# A cash payment whole in one statement, one round trip for the month start's peak: the bill
# and the caller's scope over its branch (`target`, unlocked), then, in scope and still unpaid,
# bill, payment, event and audit row. Two racing payments: the second's UPDATE waits for the
# first's row lock, then finds the bill paid and writes nothing (and the partial unique index
# on paid payments stands behind the guard should anything ever skip it). The scope is asked
# again of the bill's branch in the UPDATE itself: PostgreSQL checks its WHERE again on the row
# as it is after a lock wait, and a transfer committed meanwhile may have taken a bill of a
# month opened early to a branch the caller is not over (the cash is then not this branch's to
# record). Its row says why nothing was written; no row, no such bill. A payment written wakes
# the relay when `_RELAY_WAKEUPS` says it is due (the others go in the round it starts:
# RelayWakeups). Built from constants and CTE names only:
_PAY_CASH = Statement.of(
    "WITH target AS (SELECT b.id, b.member_id, b.status, "  # noqa: S608
    f"o.path IS NOT NULL AND {admin_over_sql('o.path')} AS in_scope "
    "FROM bills b LEFT JOIN org_replica o ON o.id = b.branch_id "
    "WHERE b.id = CAST(:bill_id AS uuid)), "
    "bill AS (UPDATE bills SET status = 'paid', paid_at = now(), channel = 'cash' FROM target "
    "WHERE bills.id = target.id AND target.in_scope AND bills.status = 'due' "
    "AND EXISTS (SELECT 1 FROM org_replica o WHERE o.id = bills.branch_id "
    f"AND {admin_over_sql('o.path')}) "
    "RETURNING bills.id, bills.member_id, bills.branch_id, bills.month, bills.amount_fen, "
    "bills.paid_at), "
    "payment AS (INSERT INTO payments (id, bill_id, amount_fen, channel, status, recorded_by, "
    "trace_context, paid_at) SELECT CAST(:payment_id AS uuid), id, amount_fen, 'cash', 'paid', "
    "CAST(:recorded_by AS uuid), CAST(:trace_context AS jsonb), paid_at FROM bill), "
    f"event AS ({event_insert_from('bill', _FEE_PAID_DATA)}), "
    f"audited AS ({audit_insert_from('bill')}) "
    "SELECT target.member_id, target.in_scope, bill.amount_fen, bill.paid_at, "
    f"CASE WHEN bill.id IS NOT NULL AND CAST(:wake_relay AS boolean) THEN {NOTIFY_RELAY} END "
    "AS notify, bill.id IS NOT NULL AND CAST(:wake_relay AS boolean) AS woke_relay "
    "FROM target LEFT JOIN bill ON true"
)


async def record_cash(where: AsyncSession | Reads, caller: Caller, bill_id: uuid.UUID) -> Payment:
    """Cash handed to the branch: an admin over the bill's branch records it. One statement,
    alone on the driver (`Reads`) or in a session's transaction."""
    payment_id = uuid.uuid4()
    trace_context = json.dumps(inject_context())  # the payment's and its event's
    try:
        with _RELAY_WAKEUPS.turn() as wakeup:
            found = await run(
                where,
                _PAY_CASH,
                bill_id=bill_id,
                payment_id=payment_id,
                recorded_by=caller.account_id,
                trace_context=trace_context,
                wake_relay=wakeup.due,
                **admin_over_values(caller),
                **event_values(FeePaid, PRODUCER, trace_context),
                **audit_values(caller, "fee.cash_recorded", "bill", bill_id),
            )
            if found and found[0]["woke_relay"]:
                wakeup.notified()
    except (IntegrityError, asyncpg.UniqueViolationError) as exc:
        raise already_paid() from exc  # the unique index's refusal: paid by another payment
    if not found:
        raise bill_not_found()
    bill = found[0]
    if not bill["in_scope"]:
        if caller.member_id == bill["member_id"]:
            raise Problem(
                403,
                "fee.cash_by_branch_only",
                "Cash is recorded by the branch that received it; pay online instead.",
            )
        raise bill_not_found()
    if bill["paid_at"] is None:
        raise await _why_not_paid(where, caller, bill_id)
    return Payment(payment_id, bill_id, bill["amount_fen"], "cash", "paid", bill["paid_at"])


# The bill with its branch's path, as it stands now: alone on the driver, or in the session.
_BILL_NOW = Statement.of(_BILL)


async def _why_not_paid(where: AsyncSession | Reads, caller: Caller, bill_id: uuid.UUID) -> Problem:
    """A cash payment that found its bill and wrote nothing: paid before or meanwhile, or
    taken away meanwhile by its member's departure or transfer to a branch out of the caller's
    scope (a bill of a month opened early follows its member). Read again, off the peak path."""
    now = await run(where, _BILL_NOW, bill_id=bill_id)
    if not now or not _admin_over_bill(caller, now[0]) or now[0]["status"] == "void":
        return bill_not_found()
    return already_paid()


async def start_online(session: AsyncSession, caller: Caller, bill_id: uuid.UUID) -> Payment:
    """A member's own online payment, pending until the provider calls back."""
    bill = await _locked_bill(session, bill_id)
    if caller.member_id != bill["member_id"]:
        if _admin_over_bill(caller, bill):
            raise Problem(
                403,
                "fee.online_by_member_only",
                "Online payment is the member's own; the branch records cash.",
            )
        raise bill_not_found()
    if bill["status"] == "void":
        raise bill_not_found()  # taken away by a departure, as a deleted bill would be
    if bill["status"] == "paid":
        raise already_paid()
    payment_id = await _new_pending_payment(session, caller, bill)
    return Payment(payment_id, bill["id"], bill["amount_fen"], "online", "pending", None)


# One payment (`Payment`'s fields).
_PAYMENT = (
    "SELECT id, bill_id, amount_fen, channel, status, paid_at, refund_reason "
    "FROM payments WHERE id = :id"
)


async def provider_answered(
    session: AsyncSession, payment_id: uuid.UUID, provider_ref: str | None
) -> Payment | None:
    """The provider's reference of a created payment, or None: it refused or did not answer in
    time, and the payment is `failed`. Returns the payment when the provider's callback settled
    it meanwhile (it called back before its own answer reached us), else None."""
    pending = await session.scalar(
        text(
            "UPDATE payments SET provider_ref = :ref, "
            "status = CASE WHEN CAST(:ref AS text) IS NULL THEN 'failed' ELSE status END "
            "WHERE id = :id AND status = 'pending' RETURNING id"
        ),
        {"id": payment_id, "ref": provider_ref},
    )
    if pending is not None:
        return None
    settled = (await session.execute(text(_PAYMENT), {"id": payment_id})).one()
    return Payment(**settled._mapping)


async def settle_callback(session: AsyncSession, payment_id: uuid.UUID, paid: bool) -> Payment:
    """The provider says how a payment ended. Told twice, the second changes nothing. Paid
    for a bill that was paid another way meanwhile, the money is the member's to get back
    (`refund_due`) and the caller hears 409 `fee.already_paid` after that is recorded; paid
    for an amount the bill no longer has, the same with `fee.amount_changed`. The reason is kept
    (`refund_reason`): told again, paid or failed, the answer is the first one.

    Paid after we marked it `failed` (the provider did not answer in time, or said failed
    first) is paid all the same: a time-out does not mean nothing was taken, and money the
    provider took must pay the bill or be owed back, never vanish."""
    payment = (
        await session.execute(
            text(f"{_PAYMENT} AND channel = 'online' FOR UPDATE"), {"id": payment_id}
        )
    ).first()
    if payment is None:
        raise payment_not_found()
    if payment.status in ("paid", "refund_due", "refunded") or (
        payment.status == "failed" and not paid
    ):
        return Payment(**payment._mapping)  # told already (a refund keeps its reason)
    if not paid:
        await session.execute(
            text("UPDATE payments SET status = 'failed' WHERE id = :id"), {"id": payment_id}
        )
        return Payment(**{**payment._mapping, "status": "failed"})
    bill = await _locked_bill(session, payment.bill_id)
    # The provider took the payment's amount. A bill of a month opened early is repriced when
    # its member's profile changes (cycles.follow_into_unbegun_months): should its amount differ
    # now, paying it would count money nobody paid, or lose money the provider took. The member
    # pays the bill again at its amount, and gets this payment back.
    refund_reason = (
        "already_paid"
        if bill["status"] == "paid"
        else "bill_void"
        if bill["status"] == "void"
        else "amount_changed"
        if bill["amount_fen"] != payment.amount_fen
        else None
    )
    if refund_reason is not None:
        await session.execute(
            text("UPDATE payments SET status = 'refund_due', refund_reason = :why WHERE id = :id"),
            {"id": payment_id, "why": refund_reason},
        )
        return Payment(
            **{**payment._mapping, "status": "refund_due", "refund_reason": refund_reason}
        )
    paid_at = (
        await session.execute(
            text(
                "UPDATE payments SET status = 'paid', paid_at = now() WHERE id = :id "
                "RETURNING paid_at"
            ),
            {"id": payment_id},
        )
    ).scalar_one()
    await session.execute(
        text("UPDATE bills SET status = 'paid', paid_at = :at, channel = 'online' WHERE id = :id"),
        {"id": bill["id"], "at": paid_at},
    )
    await _announce_paid_online(session, bill, payment_id)
    return Payment(**{**payment._mapping, "status": "paid", "paid_at": paid_at})


@dataclass(frozen=True)
class MemberBill:
    id: uuid.UUID
    month: str
    amount_fen: int
    status: str
    paid_at: datetime | None
    channel: str | None
    # The bill's online payments that paid nothing (paid another way meanwhile, repriced, void):
    # {"amount_fen", "status": refund_due | refunded}, oldest first. The member who sees the bill
    # paid in cash sees where the online payment went.
    refunds: list[dict[str, Any]]


# Newest first through the (member_id, month) unique index, read backwards: no sort. A bill's
# refunds through the payments-by-bill index, a probe a bill.
MEMBER_BILLS = text(
    "SELECT id, to_char(month, 'YYYY-MM') AS month, amount_fen, status, paid_at, channel, "
    "(SELECT coalesce(json_agg(json_build_object('amount_fen', p.amount_fen, 'status', p.status) "
    "  ORDER BY p.created_at), '[]')::text FROM payments p WHERE p.bill_id = bills.id "
    "  AND p.status IN ('refund_due', 'refunded')) AS refunds "
    "FROM bills WHERE member_id = :m AND (CAST(:before AS date) IS NULL OR month < :before) "
    "AND status <> 'void' "
    "ORDER BY bills.month DESC LIMIT :limit"
)


async def member_bills(
    session: AsyncSession, member_id: uuid.UUID, before: date | None, limit: int
) -> list[MemberBill]:
    """A member's bills, newest month first, before the month `before` (a page's cursor)."""
    rows = await session.execute(MEMBER_BILLS, {"m": member_id, "before": before, "limit": limit})
    return [MemberBill(**{**row._mapping, "refunds": json.loads(row.refunds)}) for row in rows]
