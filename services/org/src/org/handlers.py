"""Event consumers of the org service: how many members each branch has (dissolution needs it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import Envelope, Event, MemberCreated
from shared.process import Resources

MEMBER_COUNT_QUEUE = "org.member-count"


async def members_created(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """One statement a batch: an import's 10,000 events add to one branch's count 200 at a time.

    The count is a fact of the members service; the revision is not bumped and no org event
    follows, since nothing other services copy has changed.
    """
    added = Counter(event.branch_id for event, _ in batch if isinstance(event, MemberCreated))
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
    batched = BatchingInbox(resources.sessions, MEMBER_COUNT_QUEUE, members_created)
    return [Subscription(MEMBER_COUNT_QUEUE, {"member.created": batched}, prefetch=400)]
