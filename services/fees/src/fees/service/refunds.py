"""Money owed back (退款): an online payment the provider took that paid nothing, because its bill
was paid another way meanwhile, repriced, or taken away (payments.settle_callback keeps it
`refund_due` with the reason). The callback that finds it owed asks the provider to give it back
at once; should the provider not answer, an admin over the bill's branch asks again from the list
of what is owed. Given back, it is `refunded`, with the provider's reference and who asked.

The provider is asked outside any transaction (it may take seconds), between a read and a
guarded write. The payment's id is the refund's number at the provider, so two admins asking at
once, or a retry after a lost answer, give the money back once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fees.provider import PaymentProvider, ProviderUnavailable
from fees.service.payments import Payment, payment_not_found
from shared.audit import audit
from shared.caller import SYSTEM_CALLER, Caller
from shared.logging import get_logger
from shared.orgtree import is_admin_over
from shared.problems import Problem

log = get_logger(__name__)


# Opens a session for one transaction (the API's `session_for`): the provider is asked between
# two, and no database turn is held while it answers.
Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


# An online payment with its bill's branch path, for the scope check.
_PAYMENT = text(
    "SELECT p.id, p.bill_id, p.amount_fen, p.channel, p.status, p.paid_at, p.refund_reason, "
    "o.path AS branch_path FROM payments p JOIN bills b ON b.id = p.bill_id "
    "LEFT JOIN org_replica o ON o.id = b.branch_id WHERE p.id = :id AND p.channel = 'online'"
)
# Only a payment still owed back: of two askers, the second changes nothing.
_REFUNDED = text(
    "UPDATE payments SET status = 'refunded', refund_ref = :ref, refunded_at = now(), "
    "refunded_by = :by WHERE id = :id AND status = 'refund_due' RETURNING id"
)


def _payment(row: Any, status: str | None = None) -> Payment:
    return Payment(
        row.id,
        row.bill_id,
        row.amount_fen,
        row.channel,
        status or row.status,
        row.paid_at,
        row.refund_reason,
    )


async def give_back(
    sessions: Sessions, provider: PaymentProvider, caller: Caller, payment_id: uuid.UUID
) -> Payment:
    """The payment's money back to the member through the provider, asked by an admin over its
    bill's branch (or by the system, for the callback that found it owed). A payment given back
    already answers as it is; one not owed back is 409 `fee.not_refund_due`; a provider that
    does not answer raises `ProviderUnavailable`, and the payment stays owed (a refund that
    timed out may have been made: asked again, the provider answers the one it made)."""
    async with sessions() as session, session.begin():
        row = (await session.execute(_PAYMENT, {"id": payment_id})).first()
    if row is None or not is_admin_over(caller, row.branch_path or ()):
        raise payment_not_found()
    if row.status == "refunded":
        return _payment(row)
    if row.status != "refund_due":
        raise Problem(
            409,
            "fee.not_refund_due",
            "This payment is not owed back: it paid its bill, or the provider never took it.",
        )
    reference = await provider.refund(row.id, row.amount_fen)
    async with sessions() as session, session.begin():
        changed = await session.scalar(
            _REFUNDED, {"id": row.id, "ref": reference, "by": caller.account_id}
        )
        if changed is not None:
            await audit(session, caller, "fee.refunded", "payment", row.id)
    log.info("payment_refunded", payment_id=str(row.id), amount_fen=row.amount_fen)
    return _payment(row, "refunded")


@dataclass(frozen=True)
class GivenBack:
    given: int  # refunded now
    still_owed: int  # the provider did not answer for these


# Every payment still owed back, oldest first, over the partial index of the refund states.
_OWED = text(
    "SELECT id FROM payments WHERE status IN ('refund_due', 'refunded') "
    "AND status = 'refund_due' ORDER BY created_at, id"
)


async def give_back_all(
    sessions: Sessions,
    provider: PaymentProvider,
    progress: Callable[[GivenBack], None] | None = None,
) -> GivenBack:
    """Every payment still owed back, given back by the system one at a time (after a provider
    outage: the admins' 退款, without the clicking). Those the provider still does not answer
    for stay owed and are counted."""
    async with sessions() as session:
        owed = list((await session.scalars(_OWED)).all())
    given = still_owed = 0
    for n, payment_id in enumerate(owed, start=1):
        try:
            await give_back(sessions, provider, SYSTEM_CALLER, payment_id)
            given += 1
        except ProviderUnavailable:
            still_owed += 1
        if progress is not None and (n % 100 == 0 or n == len(owed)):
            progress(GivenBack(given, still_owed))
    return GivenBack(given, still_owed)


@dataclass(frozen=True)
class Refund:
    payment_id: uuid.UUID
    bill_id: uuid.UUID
    member_id: uuid.UUID
    member_name: str | None
    branch_id: uuid.UUID
    branch_name: str
    month: date
    amount_fen: int
    reason: str  # already_paid, amount_changed, bill_void
    status: str  # refund_due, refunded
    created_at: datetime  # when the payment began
    refunded_at: datetime | None


# The subtree's payments owed back (or given back), newest first, over the partial index of
# those two states (payments_refunds): the constant IN lets any plan, generic ones included, use
# it. A bill follows its member into a month opened early, so it is listed under the branch it
# belongs to now.
LIST_REFUNDS = text(
    "SELECT p.id AS payment_id, p.bill_id, b.member_id, m.name AS member_name, b.branch_id, "
    "o.name AS branch_name, b.month, p.amount_fen, p.refund_reason AS reason, p.status, "
    "p.created_at, p.refunded_at "
    "FROM payments p JOIN bills b ON b.id = p.bill_id "
    "JOIN org_replica o ON o.id = b.branch_id "
    "LEFT JOIN fee_members m ON m.member_id = b.member_id "
    "WHERE p.status IN ('refund_due', 'refunded') AND p.status = :status "
    "AND o.path @> ARRAY[CAST(:org AS uuid)] "
    "AND (CAST(:after_at AS timestamptz) IS NULL "
    "  OR (p.created_at, p.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid))) "
    "ORDER BY p.created_at DESC, p.id DESC LIMIT :limit"
)


async def refunds_of(
    session: AsyncSession,
    org_id: uuid.UUID,
    status: str,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Refund]:
    """The subtree's refunds in `status`, newest first, after the cursor `after`."""
    rows = await session.execute(
        LIST_REFUNDS,
        {
            "org": org_id,
            "status": status,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [Refund(**row._mapping) for row in rows]
