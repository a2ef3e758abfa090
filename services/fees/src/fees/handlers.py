"""Event consumers of the fees service: its copies of the organisation tree and of members."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from fees.service.cycles import bill_members_moved_while_generating, follow_into_unbegun_months
from shared.bus import Subscription
from shared.calendar import beijing_today
from shared.events import Envelope, Event, MemberDeparted, MemberTransferred, MemberUpdated
from shared.member_copy import MemberCopy
from shared.orgtree import replica_handlers
from shared.process import Resources

ORG_TREE_QUEUE = "fees.org-tree"
MEMBERS_QUEUE = "fees.members"


# What billing reads of each member (fees/db.py's FeeMember), kept by member.* events.
MEMBER_COPY = MemberCopy(members="fee_members", waiting="fee_member_updates")


def subscriptions(resources: Resources) -> list[Subscription]:
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        MEMBER_COPY.subscription(resources.sessions, MEMBERS_QUEUE, then=_bill_who_moved_or_left),
    ]


async def _bill_who_moved_or_left(
    session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]
) -> None:
    """Transfers applied while a month start runs (bill_members_moved_while_generating), and
    the bills of a month opened early following who moved or left (follow_into_unbegun_months)."""
    moved: dict[uuid.UUID, uuid.UUID] = {
        event.member_id: event.to_branch_id
        for event, _ in batch
        if isinstance(event, MemberTransferred)
    }
    if moved:
        await bill_members_moved_while_generating(session, moved)
    changed = [
        event.member_id
        for event, _ in batch
        if isinstance(event, MemberTransferred | MemberDeparted)
        or (isinstance(event, MemberUpdated) and "status" in event.values)
    ]
    await follow_into_unbegun_months(session, changed, beijing_today())
