"""Event consumers of the members service: its copy of the organisation tree, and when each
member's account was opened (for the late-account report)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from members.db import Member
from shared.bus import Subscription
from shared.events import AccountCreated, Envelope, Event
from shared.inbox import with_inbox
from shared.orgtree import replica_handlers
from shared.process import Resources

ORG_TREE_QUEUE = "members.org-tree"
ACCOUNTS_QUEUE = "members.accounts"


async def account_created(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    assert isinstance(event, AccountCreated)
    if event.member_id is None:
        return
    await session.execute(
        update(Member)
        .where(Member.id == event.member_id, Member.account_created_at.is_(None))
        .values(account_created_at=envelope.occurred_at)
    )


def subscriptions(resources: Resources) -> list[Subscription]:
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        Subscription(
            ACCOUNTS_QUEUE,
            {"account.created": with_inbox(resources.sessions, ACCOUNTS_QUEUE, account_created)},
        ),
    ]
