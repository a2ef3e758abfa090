"""Use cases of the fees service, by topic: fee profiles (profiles.py), the month start
(cycles.py)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from fees.domain.rates import FeeRuleError
from shared.caller import Caller
from shared.orgtree import OrgNode, replica_node, require_admin_over
from shared.problems import Problem

PRODUCER = "fees"


def refused_by_rules(refused: FeeRuleError, field: str) -> Problem:
    """A rule's refusal as the client's 422, pointing at the field it is about."""
    return Problem(
        422, refused.code, str(refused), errors=[{"field": field, "message": str(refused)}]
    )


async def known_org(session: AsyncSession, org_id: uuid.UUID) -> OrgNode:
    """An organisation of the service's copy of the tree, or 404 `org.not_found`."""
    node = await replica_node(session, org_id)
    if node is None:
        raise Problem(404, "org.not_found", "No such organisation.")
    return node


async def org_in_scope(session: AsyncSession, caller: Caller, org_id: uuid.UUID) -> OrgNode:
    """The organisation, for an admin over it (403 `auth.out_of_scope` otherwise)."""
    node = await known_org(session, org_id)
    require_admin_over(caller, node.path)
    return node
