"""Event consumers of the org service: how many members each branch has (dissolution needs it)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import (
    MEMBER_CREATION_EVENTS,
    MEMBER_MOVE_EVENTS,
    Envelope,
    Event,
    MemberDeparted,
    MemberTransferred,
    members_created_in,
    new_members_in,
)
from shared.process import Resources

MEMBER_COUNT_QUEUE = "org.member-count"


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
    added = {branch: n for branch, n in changes.items() if n}
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


def subscriptions(resources: Resources) -> list[Subscription]:
    batched = BatchingInbox(
        resources.sessions, MEMBER_COUNT_QUEUE, member_counts, weight=new_members_in
    )
    handlers = dict.fromkeys((*MEMBER_CREATION_EVENTS, *MEMBER_MOVE_EVENTS), batched)
    return [Subscription(MEMBER_COUNT_QUEUE, handlers, prefetch=400)]
