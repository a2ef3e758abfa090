"""The internal route every service gives for each of its assessment figures:
`GET /internal/orgs/{org_id}/assessment/{name}?year=`, for the system only (the org service's
assessment report calls it), over the organisation's subtree with each direct child's figure."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from shared.assessment import SubtreeShare, subtree_share
from shared.http import CallerDep, ReadSessionDep
from shared.orgtree import OrgNode, known_replica_node
from shared.problems import Problem

# (session, the organisation, year) -> rows of (child or None, numerator, denominator)
Compute = Callable[[AsyncSession, OrgNode, int], Awaitable[Sequence[Any]]]


def add_assessment_route(router: APIRouter, name: str, compute: Compute, summary: str) -> None:
    """`name` in the path (`system-usage`) and, with underscores, as the indicator's key."""
    indicator = name.replace("-", "_")

    async def figure(
        org_id: uuid.UUID,
        session: ReadSessionDep,
        caller: CallerDep,
        year: int = Query(ge=2000, le=2100),
    ) -> SubtreeShare:
        if not caller.is_system:
            raise Problem(403, "auth.system_only", "Internal route.")
        node = await known_replica_node(session, org_id)
        return subtree_share(indicator, year, org_id, await compute(session, node, year))

    router.add_api_route(
        f"/orgs/{{org_id}}/assessment/{name}",
        figure,
        methods=["GET"],
        response_model=SubtreeShare,
        summary=summary,
        name=f"assessment_{indicator}",
    )
