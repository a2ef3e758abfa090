"""Event consumers of the identity service: its copy of the organisation tree."""

from __future__ import annotations

from shared.app import Resources
from shared.bus import Subscription
from shared.orgtree import replica_handlers

ORG_TREE_QUEUE = "identity.org-tree"


def subscriptions(resources: Resources) -> list[Subscription]:
    return [Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE))]
