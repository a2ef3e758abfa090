"""Activity statistics of a year over a subtree (组织活动统计), with each direct child's figures
so an admin sees who pulls the number down: activities held, sign-ups, participation (sign-ups
over invitations written), and activities still without a summary a week after their end.
One set-based query over the activities' path index, not a loop over children."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.assessment import subtree_params
from shared.orgtree import OrgNode

SUMMARY_DUE_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class Figures:
    org_id: uuid.UUID
    activities: int
    signups: int
    invited: int
    unsummarised: int

    @property
    def participation_rate(self) -> float | None:
        return round(self.signups / self.invited, 4) if self.invited else None


async def of_subtree(
    session: AsyncSession, node: OrgNode, year_start: datetime, year_end: datetime, now: datetime
) -> tuple[Figures, list[Figures]]:
    """The subtree's totals, and each direct child's (children without activities included)."""
    depth = len(node.path)
    rows = await session.execute(
        text(
            "SELECT CASE WHEN cardinality(a.org_path) > :depth "
            "THEN a.org_path[:depth + 1] END AS child, count(*) AS activities, "
            "sum(a.signups) AS signups, sum(m.notified) AS invited, "
            "count(*) FILTER (WHERE a.summarised_at IS NULL AND a.ends_at < :due) "
            "AS unsummarised "
            "FROM activities a JOIN mailings m ON m.id = a.mailing_id "
            "WHERE a.org_path @> ARRAY[CAST(:org AS uuid)] "
            "AND a.starts_at >= :start AND a.starts_at < :end GROUP BY 1"
        ),
        {
            "depth": depth,
            "org": node.id,
            "start": year_start,
            "end": year_end,
            "due": now - SUMMARY_DUE_AFTER,
        },
    )
    by_child = {
        row.child: Figures(
            row.child or node.id,
            int(row.activities),
            int(row.signups or 0),
            int(row.invited or 0),
            int(row.unsummarised),
        )
        for row in rows
    }
    children = [
        by_child.get(child_id, Figures(child_id, 0, 0, 0, 0))
        for child_id in await session.scalars(
            text("SELECT id FROM org_replica WHERE parent_id = :org ORDER BY name, id"),
            {"org": node.id},
        )
    ]
    parts = list(by_child.values())
    total = Figures(
        node.id,
        sum(f.activities for f in parts),
        sum(f.signups for f in parts),
        sum(f.invited for f in parts),
        sum(f.unsummarised for f in parts),
    )
    return total, children


async def summary_share(session: AsyncSession, org: OrgNode, year: int) -> Sequence[Any]:
    """The assessment's activity summaries: activities of the year that ended more than a week
    ago and were summarised, over those that ended more than a week ago, per direct child."""
    params = subtree_params(org.path, year)
    params["due"] = datetime.now(UTC) - SUMMARY_DUE_AFTER
    return list(
        await session.execute(
            text(
                "SELECT CASE WHEN cardinality(a.org_path) > :depth "
                "THEN a.org_path[:depth + 1] END AS child, "
                "count(*) FILTER (WHERE a.summarised_at IS NOT NULL) AS summarised, "
                "count(*) AS ended FROM activities a "
                "WHERE a.org_path[1:CAST(:depth AS int)] = CAST(:path AS uuid[]) "
                "AND a.starts_at >= :year_start AND a.starts_at < :year_end AND a.ends_at < :due "
                "GROUP BY 1"
            ),
            params,
        )
    )
