"""Using retained dues (团费使用): decided collectively, recorded, public to the members of the
organisation's subtree, and never more than the organisation has kept."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import audit
from shared.caller import Caller
from shared.orgtree import is_admin_over, known_replica_node, replica_node, replica_node_in_scope
from shared.problems import Problem


@dataclass(frozen=True)
class Usage:
    id: uuid.UUID
    org_id: uuid.UUID
    amount_fen: int
    purpose: str
    decided_on: date
    decision_ref: str
    document_id: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True)
class NewUsage:
    amount_fen: int
    purpose: str
    decided_on: date
    decision_ref: str
    document_id: uuid.UUID | None


async def balance(session: AsyncSession, org_id: uuid.UUID) -> int:
    """What the organisation has kept of all the dues it remitted, less what it has used."""
    return int(
        await session.scalar(
            text(
                "SELECT (SELECT coalesce(sum(retained_fen), 0) FROM remittances "
                "WHERE from_org_id = :org) - (SELECT coalesce(sum(amount_fen), 0) "
                "FROM fee_usages WHERE org_id = :org)"
            ),
            {"org": org_id},
        )
        or 0
    )


async def record_usage(
    session: AsyncSession, caller: Caller, org_id: uuid.UUID, new: NewUsage
) -> Usage:
    await replica_node_in_scope(session, caller, org_id)
    # One use at a time per organisation: two at once must not both spend the last yuan.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"usage:{org_id}"}
    )
    available = await balance(session, org_id)
    if new.amount_fen > available:
        raise Problem(
            409,
            "fee.insufficient_balance",
            f"Only {available} fen of retained dues are left to use.",
            balance_fen=available,
        )
    row = (
        await session.execute(
            text(
                "INSERT INTO fee_usages (id, org_id, amount_fen, purpose, decided_on, "
                "decision_ref, document_id, recorded_by) VALUES (:id, :org, :amount, :purpose, "
                ":decided_on, :ref, :doc, :by) RETURNING *"
            ),
            {
                "id": uuid.uuid4(),
                "org": org_id,
                "amount": new.amount_fen,
                "purpose": new.purpose,
                "decided_on": new.decided_on,
                "ref": new.decision_ref,
                "doc": new.document_id,
                "by": caller.account_id,
            },
        )
    ).one()
    await audit(session, caller, "fee.usage_recorded", "org", org_id)
    return _usage(row)


def _usage(row: object) -> Usage:
    fields = Usage.__dataclass_fields__
    return Usage(**{name: getattr(row, name) for name in fields})


async def usages_of(
    session: AsyncSession,
    caller: Caller,
    org_id: uuid.UUID,
    after: tuple[str, uuid.UUID] | None,
    limit: int,
) -> list[Usage]:
    """The public record (使用公示): for admins over the organisation and members inside it."""
    org = await known_replica_node(session, org_id)
    if not is_admin_over(caller, org.path):
        branch = await replica_node(session, caller.org_id) if caller.org_id else None
        if caller.role != "member" or branch is None or org_id not in branch.path:
            raise Problem(
                403, "auth.out_of_scope", "This organisation is outside your responsibility."
            )
    rows = await session.execute(
        text(
            "SELECT * FROM fee_usages WHERE org_id = :org "
            "AND (CAST(:after_at AS text) IS NULL OR (created_at, id) < "
            "(CAST(:after_at AS timestamptz), :after_id)) "
            "ORDER BY created_at DESC, id DESC LIMIT :limit"
        ),
        {
            "org": org_id,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [_usage(row) for row in rows]
