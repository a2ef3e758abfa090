"""Event consumers of the org service: how many members each branch has (dissolution needs it)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from org.db import Org
from shared.bus import Subscription
from shared.events import Envelope, Event, MemberCreated
from shared.inbox import with_inbox
from shared.process import Resources

MEMBER_COUNT_QUEUE = "org.member-count"


async def member_created(session: AsyncSession, event: Event, _: Envelope) -> None:
    assert isinstance(event, MemberCreated)
    # The count is a fact of the members service; the revision is not bumped and no org event
    # follows, since nothing other services copy has changed.
    await session.execute(
        update(Org).where(Org.id == event.branch_id).values(member_count=Org.member_count + 1)
    )


def subscriptions(resources: Resources) -> list[Subscription]:
    return [
        Subscription(
            MEMBER_COUNT_QUEUE,
            {"member.created": with_inbox(resources.sessions, MEMBER_COUNT_QUEUE, member_created)},
        ),
    ]
