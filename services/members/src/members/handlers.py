"""Event consumers of the members service: its copy of the organisation tree, and when each
member's account was opened (for the late-account report)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import AccountCreated, Envelope, Event
from shared.orgtree import replica_handlers
from shared.process import Resources

ORG_TREE_QUEUE = "members.org-tree"
ACCOUNTS_QUEUE = "members.accounts"


async def accounts_created(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """When each member's account was opened, in one statement for the whole batch (an import
    brings 10,000, and one transaction each held up the relay sharing the process)."""
    opened = {
        event.member_id: envelope.occurred_at
        for event, envelope in batch
        if isinstance(event, AccountCreated) and event.member_id is not None
    }
    if not opened:
        return
    await session.execute(
        text(
            "UPDATE members SET account_created_at = o.opened_at "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS o(id, opened_at) "
            "WHERE members.id = o.id AND members.account_created_at IS NULL"
        ),
        {"ids": list(opened), "ats": list(opened.values())},
    )


def subscriptions(resources: Resources) -> list[Subscription]:
    batched = BatchingInbox(resources.sessions, ACCOUNTS_QUEUE, accounts_created)
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        Subscription(ACCOUNTS_QUEUE, {"account.created": batched}, prefetch=400),
    ]
