"""Accounts follow their records: a transfer moves a member account's scope to the new branch,
a departure disables it, and a dissolution disables the organisation's admin accounts.

A disabled account is also frozen, so the gateway, which stops a frozen account's tokens at once
(account.frozen), needs nothing new; unlike a freeze it cannot be undone (identity.service.unfreeze
refuses), and logging in says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import (
    AccountFrozen,
    Envelope,
    Event,
    MemberDeparted,
    MemberTransferred,
    OrgDissolved,
)
from shared.outbox import record_events

PRODUCER = "identity"
DISABLED_REASON = "member departed"
DISSOLVED_REASON = "organisation dissolved"


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
        await _disable(session, "member_id = ANY(:ids)", {"ids": departed}, DISABLED_REASON)


async def org_dissolved(session: AsyncSession, event: Event, _: Envelope) -> None:
    """The admins of a dissolved organisation have nothing left to administer."""
    if isinstance(event, OrgDissolved):
        await _disable(
            session, "org_id = :org AND role = 'admin'", {"org": event.org_id}, DISSOLVED_REASON
        )


async def _disable(
    session: AsyncSession, where: str, params: dict[str, object], reason: str
) -> None:
    """Disable the accounts `where` says (a constant of this module), each frozen once."""
    disabled = (
        await session.execute(
            text(
                "UPDATE accounts SET status = 'disabled', frozen = true, "  # noqa: S608 (constant)
                "frozen_reason = :reason, frozen_at = coalesce(frozen_at, :now) "
                f"WHERE {where} AND status <> 'disabled' RETURNING id, frozen_at"
            ),
            {**params, "reason": reason, "now": datetime.now(UTC)},
        )
    ).all()
    await record_events(
        session,
        [AccountFrozen(account_id=row.id, frozen_at=row.frozen_at) for row in disabled],
        PRODUCER,
    )
