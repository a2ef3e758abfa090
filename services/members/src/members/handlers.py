"""Event consumers of the members service: its copy of the organisation tree, when each
member's account was opened (for the late-account report), and the steps of transfers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from members.service.moves import TRANSFER_STEPS, on_transfer_steps
from members.settings import MembersSettings
from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.db import in_lock_order
from shared.events import AccountCreated, Envelope, Event
from shared.orgtree import OrgDirectory, replica_handlers
from shared.process import Resources

ORG_TREE_QUEUE = "members.org-tree"
ACCOUNTS_QUEUE = "members.accounts"
TRANSFERS_QUEUE = "members.transfers"


async def accounts_created(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """When each member's account was opened, in one statement for the whole batch (an import
    brings 10,000, and one transaction each held up the relay sharing the process)."""
    opened = in_lock_order(
        {
            event.member_id: envelope.occurred_at
            for event, envelope in batch
            if isinstance(event, AccountCreated) and event.member_id is not None
        }
    )
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
    settings = resources.settings
    assert isinstance(settings, MembersSettings)
    batched = BatchingInbox(resources.sessions, ACCOUNTS_QUEUE, accounts_created)
    # A transfer into a branch created a moment ago may find it not yet in the copy of the tree.
    directory = OrgDirectory(settings.org_url, settings.platform.internal_secret)

    async def transfer_steps(
        session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]
    ) -> None:
        await on_transfer_steps(session, [event for event, _ in batch], directory)

    # In batches: a wave of transfer requests (a school year's graduates) is thousands at once.
    steps = BatchingInbox(resources.sessions, TRANSFERS_QUEUE, transfer_steps)
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        Subscription(ACCOUNTS_QUEUE, {"account.created": batched}, prefetch=400),
        Subscription(TRANSFERS_QUEUE, dict.fromkeys(TRANSFER_STEPS, steps), prefetch=400),
    ]
