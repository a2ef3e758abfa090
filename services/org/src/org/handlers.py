"""Event consumers of the org service: what dissolution waits for. How many members each branch
has, which transfers into it are open, and the dissolutions that can complete.

A dissolution completes here, not in the request: the request sets `dissolving` and its own
org.updated comes back on org.dissolutions, by when the counts have had the events sent before
it; an event that empties a dissolving branch later completes it then."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from org.service import settle_dissolutions, supervision
from shared.batching import BatchingInbox
from shared.bus import PermanentError, Subscription
from shared.db import in_lock_order
from shared.events import (
    MEMBER_CREATION_EVENTS,
    MEMBER_MOVE_EVENTS,
    TRANSFER_ENDS,
    Envelope,
    Event,
    MemberDeparted,
    MemberTransferred,
    OrgUpdated,
    SpotCheckFailed,
    TransferEvent,
    TransferRequested,
    members_created_in,
    new_members_in,
)
from shared.inbox import with_inbox
from shared.process import Resources

MEMBER_COUNT_QUEUE = "org.member-count"
TRANSFERS_QUEUE = "org.transfers"
DISSOLUTIONS_QUEUE = "org.dissolutions"
RECTIFICATIONS_QUEUE = "org.rectifications"
TRANSFER_EVENTS = ("transfer.requested", *TRANSFER_ENDS)


def count_changes(events: Iterable[Event]) -> Counter[uuid.UUID]:
    """How each branch's member count moves: new members add, a transfer moves one from the
    old branch to the new, a departure takes one away."""
    changes = Counter(event.branch_id for event in members_created_in(events))
    for event in events:
        if isinstance(event, MemberTransferred):
            changes[event.from_branch_id] -= 1
            changes[event.to_branch_id] += 1
        elif isinstance(event, MemberDeparted):
            changes[event.branch_id] -= 1
    return changes


async def member_counts(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """One statement a batch: new members (one by one, or an import's chunks of 500),
    transfers and departures change their branches' counts together.

    The count is a fact of the members service; the revision is not bumped and no org event
    follows, since nothing other services copy has changed.
    """
    changes = count_changes([event for event, _ in batch])
    added = in_lock_order({branch: n for branch, n in changes.items() if n})
    if not added:
        return
    await session.execute(
        text(
            "UPDATE orgs SET member_count = member_count + a.n "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:ns AS int[])) AS a(id, n) "
            "WHERE orgs.id = a.id"
        ),
        {"ids": list(added), "ns": list(added.values())},
    )
    await settle_dissolutions(session, [branch for branch, n in added.items() if n < 0])


async def transfers_in(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """Open transfers into each branch: a request opens one, its end closes it, in whatever
    order they arrive."""
    opened = {e.transfer_id: e.to_branch_id for e, _ in batch if isinstance(e, TransferRequested)}
    ended = {
        e.transfer_id: e.to_branch_id
        for e, _ in batch
        if isinstance(e, TransferEvent) and e.type in TRANSFER_ENDS
    }
    for transfers, is_end in ((opened, False), (ended, True)):
        if transfers:
            await session.execute(
                text(
                    "INSERT INTO incoming_transfers AS t (transfer_id, to_branch_id, ended) "
                    "SELECT id, branch, :ended FROM unnest(CAST(:ids AS uuid[]), "
                    "CAST(:branches AS uuid[])) AS o(id, branch) "
                    "ON CONFLICT (transfer_id) DO UPDATE SET ended = t.ended OR EXCLUDED.ended"
                ),
                {"ids": list(transfers), "branches": list(transfers.values()), "ended": is_end},
            )
    await settle_dissolutions(session, ended.values())


async def dissolving(session: AsyncSession, event: Event, _: Envelope) -> None:
    """The org's own `dissolving` announcement, back from the broker: complete it if empty."""
    if isinstance(event, OrgUpdated) and event.status == "dissolving":
        await settle_dissolutions(session, [event.org_id])


async def spot_check_failed(session: AsyncSession, event: Event, _: Envelope) -> None:
    """A failed spot check joins the rectification list (and is announced from here)."""
    if not isinstance(event, SpotCheckFailed):
        raise PermanentError(f"not member.spot_check_failed: {event.type}")
    await supervision.from_spot_check(session, event)


def subscriptions(resources: Resources) -> list[Subscription]:
    batched = BatchingInbox(
        resources.sessions, MEMBER_COUNT_QUEUE, member_counts, weight=new_members_in
    )
    handlers = dict.fromkeys((*MEMBER_CREATION_EVENTS, *MEMBER_MOVE_EVENTS), batched)
    transfers = BatchingInbox(resources.sessions, TRANSFERS_QUEUE, transfers_in)
    own = with_inbox(resources.sessions, DISSOLUTIONS_QUEUE, dissolving)
    return [
        Subscription(MEMBER_COUNT_QUEUE, handlers, prefetch=400),
        Subscription(TRANSFERS_QUEUE, dict.fromkeys(TRANSFER_EVENTS, transfers), prefetch=200),
        Subscription(DISSOLUTIONS_QUEUE, {"org.updated": own}, prefetch=20),
        Subscription(
            RECTIFICATIONS_QUEUE,
            {
                "member.spot_check_failed": with_inbox(
                    resources.sessions, RECTIFICATIONS_QUEUE, spot_check_failed
                )
            },
            prefetch=20,
        ),
    ]
