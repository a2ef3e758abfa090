"""Event consumers of the fees service: its copies of the organisation tree and of members."""

from __future__ import annotations

from shared.bus import Subscription
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
        MEMBER_COPY.subscription(resources.sessions, MEMBERS_QUEUE),
    ]
