"""Event consumers of the identity service: its copy of the organisation tree, member accounts
(opened for new members, moved with transfers, disabled on departure), admin accounts disabled
when their organisation is dissolved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from identity import service
from identity.moves import member_moves, org_dissolved
from identity.settings import IdentitySettings
from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import (
    MEMBER_CREATION_EVENTS,
    MEMBER_MOVE_EVENTS,
    Envelope,
    Event,
    members_created_in,
    new_members_in,
)
from shared.inbox import with_inbox
from shared.orgtree import replica_handlers
from shared.process import Resources

ORG_TREE_QUEUE = "identity.org-tree"
MEMBER_ACCOUNTS_QUEUE = "identity.member-accounts"
DISSOLUTIONS_QUEUE = "identity.dissolutions"


def subscriptions(resources: Resources) -> list[Subscription]:
    settings = resources.settings
    assert isinstance(settings, IdentitySettings)
    sealer = service.activation_sealer(settings.platform.internal_secret)

    async def members_created(
        session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]
    ) -> None:
        await service.open_member_accounts(
            session,
            members_created_in(event for event, _ in batch),
            ttl=timedelta(days=settings.activation_code_ttl_days),
            pepper=settings.platform.internal_secret,
            sealer=sealer,
        )
        # After the openings: a member created and moved in one batch (or whose moves came
        # first and waited) moves its new account.
        await member_moves(session, batch)

    # Members entered one by one arrive as one event each: taken in batches. An import's come
    # in chunks of 500 (member.imported), a transaction each at most.
    batched = BatchingInbox(
        resources.sessions,
        MEMBER_ACCOUNTS_QUEUE,
        members_created,
        max_size=500,
        weight=new_members_in,
    )
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        Subscription(
            DISSOLUTIONS_QUEUE,
            {"org.dissolved": with_inbox(resources.sessions, DISSOLUTIONS_QUEUE, org_dissolved)},
        ),
        Subscription(
            MEMBER_ACCOUNTS_QUEUE,
            dict.fromkeys((*MEMBER_CREATION_EVENTS, *MEMBER_MOVE_EVENTS), batched),
            prefetch=1000,
        ),
    ]
