"""Event consumers of the transfers service: its copies of the organisation tree (who is above
which branch, which branches are active) and of members (who may move, from where), and members'
word on a completed transfer the record did not follow."""

from __future__ import annotations

from shared.bus import Subscription
from shared.events import MemberTransferRefused
from shared.inbox import with_inbox
from shared.orgtree import replica_handlers
from shared.process import Resources
from transfers.service import MEMBER_COPY, completion_not_followed, members_departed

ORG_TREE_QUEUE = "transfers.org-tree"
MEMBERS_QUEUE = "transfers.members"
# Completed transfers the record did not follow (members' word): few, one at a time.
NOT_FOLLOWED_QUEUE = "transfers.not-followed"


def subscriptions(resources: Resources) -> list[Subscription]:
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        # A member who leaves has their open transfer ended in the same transaction.
        MEMBER_COPY.subscription(resources.sessions, MEMBERS_QUEUE, then=members_departed),
        Subscription(
            NOT_FOLLOWED_QUEUE,
            {
                MemberTransferRefused.type: with_inbox(
                    resources.sessions, NOT_FOLLOWED_QUEUE, completion_not_followed
                )
            },
        ),
    ]
