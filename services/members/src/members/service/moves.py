"""A record changing place: the members side of a transfer (the transfers service owns the
process; the record is ours), and a departure from the league's rolls (离团).

A transfer holds the member `transferring` from its request until it ends, and moves the record
when it completes. Its events may arrive in any order (the relay publishes on more than one
lane) and more than once (the inbox takes care of that): `member_transfers` remembers each
transfer and whether it ended, so a request that arrives after its own end changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from members.db import Member
from members.service import (
    PRODUCER,
    access_to,
    load_member,
    path_ids,
    path_text,
)
from shared.audit import audit
from shared.caller import Caller
from shared.db import ids_in_lock_order, lock_in_id_order
from shared.events import (
    DepartureReason,
    Event,
    MemberDeparted,
    MemberTransferred,
    MemberTransferRefused,
    TransferCompleted,
    TransferEvent,
    TransferRequested,
)
from shared.logging import get_logger
from shared.orgtree import OrgDirectory
from shared.outbox import record_event
from shared.problems import Problem

log = get_logger(__name__)

# The steps that end a transfer, and how this service records the end.
ENDINGS = {
    "transfer.completed": "completed",
    "transfer.rejected": "rejected",
    "transfer.cancelled": "cancelled",
}

# The members service takes these steps; `transfer.out_approved` changes nothing here.
TRANSFER_STEPS = (
    "transfer.requested",
    "transfer.completed",
    "transfer.rejected",
    "transfer.cancelled",
)


async def on_transfer_steps(
    session: AsyncSession, events: Sequence[Event], directory: OrgDirectory
) -> None:
    """A batch of transfer steps, in the consumer's transaction (inbox rows included): which
    transfers opened and ended in one statement each, the members they hold or free in one
    more, then each completed transfer's move."""
    touched = ids_in_lock_order(e.member_id for e in events if isinstance(e, TransferEvent))
    if touched:
        # Their records locked first, in id order, before anything else: another consumer
        # process's batch (or the approval of a change request, which takes the member before
        # its review) then waits for this one instead of deadlocking with it.
        await lock_in_id_order(session, "members", "id", touched)
    opened = [e for e in events if isinstance(e, TransferRequested)]
    ended = [
        (e, ENDINGS[e.type]) for e in events if isinstance(e, TransferEvent) and e.type in ENDINGS
    ]
    if opened:
        await session.execute(
            text(
                "INSERT INTO member_transfers (transfer_id, member_id) "
                "SELECT * FROM unnest(CAST(:transfers AS uuid[]), CAST(:members AS uuid[])) "
                "ON CONFLICT (transfer_id) DO NOTHING"
            ),
            {
                "transfers": [e.transfer_id for e in opened],
                "members": [e.member_id for e in opened],
            },
        )
    if ended:
        # An end that came before its request is kept as ended: the request then holds nobody.
        await session.execute(
            text(
                "INSERT INTO member_transfers AS t (transfer_id, member_id, ended) "
                "SELECT * FROM unnest(CAST(:transfers AS uuid[]), CAST(:members AS uuid[]), "
                "CAST(:endings AS text[])) ON CONFLICT (transfer_id) "
                "DO UPDATE SET ended = EXCLUDED.ended WHERE t.ended IS NULL"
            ),
            {
                "transfers": [e.transfer_id for e, _ in ended],
                "members": [e.member_id for e, _ in ended],
                "endings": [ending for _, ending in ended],
            },
        )
    if touched:
        # Held while any of their transfers is open; those who left stay as they are.
        await session.execute(
            text(
                "UPDATE members m SET status = s.held, updated_at = now() FROM ("
                "  SELECT id, CASE WHEN EXISTS (SELECT 1 FROM member_transfers t "
                "    WHERE t.member_id = ids.id AND t.ended IS NULL) "
                "  THEN 'transferring' ELSE 'active' END AS held "
                "  FROM unnest(CAST(:ids AS uuid[])) AS ids(id)) AS s "
                "WHERE m.id = s.id AND m.status IN ('active', 'transferring') "
                "AND m.status <> s.held"
            ),
            {"ids": touched},
        )
    for event in events:
        if isinstance(event, TransferCompleted):
            await _move(session, event, directory)


async def _move(session: AsyncSession, event: TransferCompleted, directory: OrgDirectory) -> None:
    """The record, its pending reviews with it, into the new branch; `member.transferred`."""
    member = await load_member(session, event.member_id, lock=True)
    if member.branch_id != event.from_branch_id or member.status == "left":
        # A record that left meanwhile (its departure raced the transfer's request), or that is
        # in another branch: kept where it is, and transfers told, for the transfer not to stand
        # as completed. One already in the target branch needs nothing.
        moved_already = member.branch_id == event.to_branch_id and member.status != "left"
        log.warning(
            "transfer_not_applied",
            transfer_id=str(event.transfer_id),
            member_id=str(member.id),
            member_status=member.status,
            moved_already=moved_already,
        )
        if not moved_already:
            await record_event(
                session,
                MemberTransferRefused(
                    member_id=member.id,
                    transfer_id=event.transfer_id,
                    from_branch_id=event.from_branch_id,
                    to_branch_id=event.to_branch_id,
                    reason="departed" if member.status == "left" else "elsewhere",
                ),
                PRODUCER,
            )
        return
    target = await directory.node(session, event.to_branch_id)
    if target is None:
        # The transfers service approved into a branch the org service does not know: a bug
        # to look at, not a message to drop. Raised, it retries and then dead-letters.
        raise RuntimeError(f"transfer {event.transfer_id}: unknown branch {event.to_branch_id}")
    from_path = path_ids(member.org_path)
    member.branch_id = target.id
    member.org_path = path_text(target.path)
    member.revision += 1
    member.updated_at = datetime.now(UTC)
    # The reviews still pending are the new branch's to decide.
    await session.execute(
        text(
            "UPDATE reviews SET branch_id = :branch, org_path = :path "
            "WHERE member_id = :member AND status = 'pending'"
        ),
        {"branch": target.id, "path": member.org_path, "member": member.id},
    )
    await session.flush()
    await record_event(
        session,
        MemberTransferred(
            member_id=member.id,
            transfer_id=event.transfer_id,
            from_branch_id=event.from_branch_id,
            to_branch_id=target.id,
            from_path=from_path,
            to_path=list(target.path),
        ),
        PRODUCER,
    )


async def depart(
    session: AsyncSession,
    caller: Caller,
    member_id: uuid.UUID,
    reason: DepartureReason,
    on: date,
    today: date,
) -> Member:
    """End a record (离团) by an admin over its branch: inactive everywhere from `on`."""
    member = await load_member(session, member_id, lock=True)
    if not access_to(caller, member).is_admin:  # the member's own: seen, not for them
        raise Problem(
            403, "auth.admin_only", "Only an admin over the member's branch records a departure."
        )
    if member.status == "left":
        raise Problem(409, "member.not_active", "This member has already left.")
    open_transfer = (
        await session.execute(
            text("SELECT 1 FROM member_transfers WHERE member_id = :m AND ended IS NULL"),
            {"m": member.id},
        )
    ).first()
    if member.status == "transferring" or open_transfer is not None:
        raise Problem(
            409,
            "member.transfer_open",
            "This member is being transferred; the transfer ends first (approved, rejected or "
            "cancelled).",
        )
    if on > today:
        raise Problem(422, "member.departure_in_future", "The departure date is in the future.")
    if on < member.joined_on:
        raise Problem(
            422, "member.departure_before_joining", "The departure date is before joining."
        )
    member.status = "left"
    member.departure_reason = reason
    member.departed_on = on
    member.revision += 1
    member.updated_at = datetime.now(UTC)
    await session.flush()
    await audit(session, caller, f"member.departed:{reason}", "member", member.id)
    await record_event(
        session,
        MemberDeparted(member_id=member.id, branch_id=member.branch_id, reason=reason, on=on),
        PRODUCER,
    )
    return member
