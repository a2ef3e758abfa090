"""Event consumers of the identity service: its copy of the organisation tree, member accounts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from identity import service
from identity.settings import IdentitySettings
from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import Envelope, Event, MemberCreated
from shared.orgtree import replica_handlers
from shared.process import Resources

ORG_TREE_QUEUE = "identity.org-tree"
MEMBER_ACCOUNTS_QUEUE = "identity.member-accounts"


def subscriptions(resources: Resources) -> list[Subscription]:
    settings = resources.settings
    assert isinstance(settings, IdentitySettings)
    sealer = service.activation_sealer(settings.platform.internal_secret)

    async def members_created(
        session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]
    ) -> None:
        await service.open_member_accounts(
            session,
            [event for event, _ in batch if isinstance(event, MemberCreated)],
            ttl=timedelta(days=settings.activation_code_ttl_days),
            pepper=settings.platform.internal_secret,
            sealer=sealer,
        )

    # An import of 10,000 members arrives as 10,000 events: taken in batches, not one by one.
    batched = BatchingInbox(
        resources.sessions, MEMBER_ACCOUNTS_QUEUE, members_created, max_size=500
    )
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        Subscription(MEMBER_ACCOUNTS_QUEUE, {"member.created": batched}, prefetch=1000),
    ]
