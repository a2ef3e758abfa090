"""Event consumers of the transfers service: its copies of the organisation tree (who is above
which branch, which branches are active) and of members (who may move, from where)."""

from __future__ import annotations

from shared.bus import Subscription
from shared.orgtree import replica_handlers
from shared.process import Resources
from transfers.service import MEMBER_COPY, members_departed

ORG_TREE_QUEUE = "transfers.org-tree"
MEMBERS_QUEUE = "transfers.members"


def subscriptions(resources: Resources) -> list[Subscription]:
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        # A member who leaves has their open transfer ended in the same transaction.
        MEMBER_COPY.subscription(resources.sessions, MEMBERS_QUEUE, then=members_departed),
    ]
