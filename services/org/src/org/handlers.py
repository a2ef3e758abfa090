"""Event consumers of the org service: how many members each branch has (dissolution needs it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import (
    MEMBER_CREATION_EVENTS,
    Envelope,
    Event,
    members_created_in,
    new_members_in,
)
from shared.process import Resources

MEMBER_COUNT_QUEUE = "org.member-count"


async def members_created(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """One statement a batch: new members (one by one, or an import's chunks of 500) add to
    their branches' counts together.

    The count is a fact of the members service; the revision is not bumped and no org event
    follows, since nothing other services copy has changed.
    """
    added = Counter(event.branch_id for event in members_created_in(event for event, _ in batch))
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
        resources.sessions, MEMBER_COUNT_QUEUE, members_created, weight=new_members_in
    )
    handlers = dict.fromkeys(MEMBER_CREATION_EVENTS, batched)
    return [Subscription(MEMBER_COUNT_QUEUE, handlers, prefetch=400)]
