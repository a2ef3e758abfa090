"""Member accounts follow their records: a transfer moves the account's scope to the new branch,
a departure disables it.

A disabled account is also frozen, so the gateway, which stops a frozen account's tokens at once
(account.frozen), needs nothing new; unlike a freeze it cannot be undone (identity.service.unfreeze
refuses), and logging in says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import AccountFrozen, Envelope, Event, MemberDeparted, MemberTransferred
from shared.outbox import record_events

PRODUCER = "identity"
DISABLED_REASON = "member departed"


async def member_moves(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """A batch of transfers and departures, a statement each kind."""
    moved = {e.member_id: e.to_branch_id for e, _ in batch if isinstance(e, MemberTransferred)}
    departed = [e.member_id for e, _ in batch if isinstance(e, MemberDeparted)]
    if moved:
        # Tokens issued before carry the old branch until they expire (the gateway decides
        # member access by member id, and admins' scope by the records' own places).
        await session.execute(
            text(
                "UPDATE accounts SET org_id = m.branch "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:branches AS uuid[])) AS m(id, branch) "
                "WHERE accounts.member_id = m.id"
            ),
            {"ids": list(moved), "branches": list(moved.values())},
        )
    if departed:
        now = datetime.now(UTC)
        disabled = (
            await session.execute(
                text(
                    "UPDATE accounts SET status = 'disabled', frozen = true, "
                    "frozen_reason = :reason, frozen_at = coalesce(frozen_at, :now) "
                    "WHERE member_id = ANY(:ids) AND status <> 'disabled' RETURNING id, frozen_at"
                ),
                {"ids": departed, "reason": DISABLED_REASON, "now": now},
            )
        ).all()
        await record_events(
            session,
            [AccountFrozen(account_id=row.id, frozen_at=row.frozen_at) for row in disabled],
            PRODUCER,
        )
