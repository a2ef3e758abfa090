"""Accounts follow their records: a transfer moves a member account's scope to the new branch,
a departure disables it, and a dissolution disables the organisation's admin accounts.

A disabled account is also frozen, so the gateway, which stops a frozen account's tokens at once
(account.frozen), needs nothing new; unlike a freeze it cannot be undone (identity.service.unfreeze
refuses), and logging in says why.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import in_lock_order
from shared.events import (
    AccountFrozen,
    Envelope,
    Event,
    MemberDeparted,
    MemberTransferred,
    OrgDissolved,
)
from shared.orgtree import upsert_replica
from shared.outbox import record_events

PRODUCER = "identity"
DISABLED_REASON = "member departed"
DISSOLVED_REASON = "organisation dissolved"


async def member_moves(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """A batch's transfers and departures, a statement each kind, after the batch opened its
    accounts; then the moves that waited for accounts now open. Of a member's transfers the
    one that occurred last wins, whatever the order they arrive in (an event that failed once
    comes back from its retry queue after those behind it)."""
    moved: dict[uuid.UUID, Placement] = {}
    for event, envelope in batch:
        if isinstance(event, MemberTransferred):
            placement = Placement(event.to_branch_id, envelope.occurred_at)
            if event.member_id not in moved or moved[event.member_id].at < placement.at:
                moved[event.member_id] = placement
    departed = [e.member_id for e, _ in batch if isinstance(e, MemberDeparted)]
    await _move(session, moved)
    if departed:
        await _disable(session, "member_id = ANY(:ids)", {"ids": departed}, DISABLED_REASON)
    await _wait_for_accounts(session, moved, departed)
    await _moves_that_waited(session)


@dataclass(frozen=True)
class Placement:
    branch_id: uuid.UUID
    at: datetime  # when the transfer occurred: its event's occurred_at


async def _move(session: AsyncSession, moved: dict[uuid.UUID, Placement]) -> None:
    """Each account into its new branch, unless a later transfer put it where it is."""
    if not moved:
        return
    moved = in_lock_order(moved)
    # Tokens issued before carry the old branch until they expire (the gateway decides
    # member access by member id, and admins' scope by the records' own places).
    await session.execute(
        text(
            "UPDATE accounts a SET org_id = m.branch, placed_at = m.at "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:branches AS uuid[]), "
            "CAST(:ats AS timestamptz[])) AS m(id, branch, at) "
            "WHERE a.member_id = m.id AND (a.placed_at IS NULL OR a.placed_at < m.at)"
        ),
        {
            "ids": list(moved),
            "branches": [p.branch_id for p in moved.values()],
            "ats": [p.at for p in moved.values()],
        },
    )


async def _wait_for_accounts(
    session: AsyncSession, moved: dict[uuid.UUID, Placement], departed: list[uuid.UUID]
) -> None:
    """The moves of members without an account yet (its opening failed once and waits for its
    retry), kept until it is opened: the newest transfer, and whether the member left."""
    told = set(moved) | set(departed)
    if not told:
        return
    ids = list(told)
    await session.execute(
        text(
            "INSERT INTO member_moves_waiting AS w (member_id, org_id, placed_at, departed) "
            "SELECT m.id, m.branch, m.at, m.departed "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:branches AS uuid[]), "
            "CAST(:ats AS timestamptz[]), CAST(:departed AS boolean[])) "
            "AS m(id, branch, at, departed) "
            "WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.member_id = m.id) "
            "ON CONFLICT (member_id) DO UPDATE SET "
            "org_id = CASE WHEN EXCLUDED.org_id IS NOT NULL AND (w.placed_at IS NULL "
            "  OR EXCLUDED.placed_at > w.placed_at) THEN EXCLUDED.org_id ELSE w.org_id END, "
            "placed_at = CASE WHEN EXCLUDED.org_id IS NOT NULL AND (w.placed_at IS NULL "
            "  OR EXCLUDED.placed_at > w.placed_at) THEN EXCLUDED.placed_at ELSE w.placed_at END, "
            "departed = w.departed OR EXCLUDED.departed"
        ),
        {
            "ids": ids,
            "branches": [moved[m].branch_id if m in moved else None for m in ids],
            "ats": [moved[m].at if m in moved else None for m in ids],
            "departed": [m in departed for m in ids],
        },
    )


async def _moves_that_waited(session: AsyncSession) -> None:
    """The moves kept for accounts now open, applied and forgotten: those this batch opened,
    and any another consumer process opened while this one kept their move (neither
    transaction saw the other's row; the next batch of either finds both). Cheap while nothing
    waits, as nearly always."""
    waited = (
        await session.execute(
            text(
                "DELETE FROM member_moves_waiting w USING accounts a "
                "WHERE a.member_id = w.member_id "
                "RETURNING w.member_id, w.org_id, w.placed_at, w.departed"
            )
        )
    ).all()
    await _move(
        session,
        {w.member_id: Placement(w.org_id, w.placed_at) for w in waited if w.org_id is not None},
    )
    departed = [w.member_id for w in waited if w.departed]
    if departed:
        await _disable(session, "member_id = ANY(:ids)", {"ids": departed}, DISABLED_REASON)


async def org_dissolved(session: AsyncSession, event: Event, _: Envelope) -> None:
    """The admins of a dissolved organisation have nothing left to administer. The copy of the
    tree learns of the dissolution here too, in the same transaction (its own queue may bring
    the event later, from a retry): an admin application approved meanwhile, which locks the
    organisation's row of the copy, is refused after this commits, or is approved first and
    its new account is then disabled here with the others."""
    if isinstance(event, OrgDissolved):
        await upsert_replica(session, event)
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
