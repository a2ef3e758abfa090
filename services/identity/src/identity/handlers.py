"""Event consumers of the identity service: its copy of the organisation tree, member accounts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from identity import service
from identity.settings import IdentitySettings
from shared.app import Resources
from shared.bus import Subscription
from shared.events import Envelope, Event, MemberCreated
from shared.inbox import with_inbox
from shared.orgtree import replica_handlers

ORG_TREE_QUEUE = "identity.org-tree"
MEMBER_ACCOUNTS_QUEUE = "identity.member-accounts"


def subscriptions(resources: Resources) -> list[Subscription]:
    settings = resources.settings
    assert isinstance(settings, IdentitySettings)
    sealer = service.activation_sealer(settings.platform.internal_secret)

    async def member_created(session: AsyncSession, event: Event, _: Envelope) -> None:
        assert isinstance(event, MemberCreated)
        await service.open_member_account(
            session,
            event,
            ttl=timedelta(days=settings.activation_code_ttl_days),
            pepper=settings.platform.internal_secret,
            sealer=sealer,
        )

    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        Subscription(
            MEMBER_ACCOUNTS_QUEUE,
            {
                "member.created": with_inbox(
                    resources.sessions, MEMBER_ACCOUNTS_QUEUE, member_created
                )
            },
        ),
    ]
