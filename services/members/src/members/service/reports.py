"""Statistics of a subtree's members (统计报表) and the rows of a member list export.

Statistics are one grouped statement over the subtree's index range (GROUPING SETS: each
dimension per direct child), never a loop over children. An export reads the subtree in
batches from a server-side cursor, so a province-wide list is never held in memory.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from members.service import path_text
from shared.orgtree import OrgNode

DIMENSIONS = ("gender", "ethnicity", "age_band", "joined_year")
# The league's age bands: 14 to 28 is the age of membership; older members are due to leave.
AGE_BANDS = (("14-18", 18), ("19-22", 22), ("23-25", 25), ("26-28", 28))
OVER_AGE = "over_28"
EXPORT_BATCH = 2_000


@dataclass
class Counts:
    """One organisation's members by each dimension's values."""

    org_id: uuid.UUID
    total: int = 0
    by: dict[str, dict[str, int]] = field(
        default_factory=lambda: {d: defaultdict(int) for d in DIMENSIONS}
    )


def _age_band_sql() -> str:
    cases = " ".join(f"WHEN age <= {upper} THEN '{label}'" for label, upper in AGE_BANDS)
    return f"CASE {cases} ELSE '{OVER_AGE}' END"


STATISTICS_SQL = f"""
WITH m AS (
  SELECT nullif(split_part(substr(org_path, CAST(:prefix_length AS int) + 1), '/', 1), '')
           AS child,
         gender, ethnicity,
         {_age_band_sql()} AS age_band,
         CAST(extract(year FROM joined_on) AS int)::text AS joined_year
  FROM (SELECT *, CAST(date_part('year', age(CAST(:today AS date), birth_date)) AS int) AS age
        FROM members
        WHERE org_path >= :prefix AND org_path < :upper AND status <> 'left') x
)
SELECT child, gender, ethnicity, age_band, joined_year, count(*) AS n FROM m
GROUP BY GROUPING SETS ((child, gender), (child, ethnicity), (child, age_band), (child, joined_year))
"""  # noqa: S608 (constants only)


async def statistics(
    session: AsyncSession, org: OrgNode, today: date
) -> tuple[Counts, list[Counts]]:
    """Members of the subtree (not those who left) by gender, ethnicity, age band (as of
    `today`) and joining year: the subtree's figures and each direct child's."""
    prefix = path_text(org.path)
    rows = await session.execute(
        text(STATISTICS_SQL),
        {
            "prefix": prefix,
            "upper": prefix[:-1] + "0",
            "prefix_length": len(prefix),
            "today": today,
        },
    )
    total = Counts(org.id)
    children: dict[uuid.UUID, Counts] = {}
    for row in rows:
        child = uuid.UUID(row.child) if row.child else None
        target = children.setdefault(child, Counts(child)) if child else None
        dimension = next(d for d in DIMENSIONS if getattr(row, d) is not None)
        value = str(getattr(row, dimension))
        for counts in (total, target):
            if counts is None:
                continue
            counts.by[dimension][value] += int(row.n)
            if dimension == "gender":
                counts.total += int(row.n)
    return total, sorted(children.values(), key=lambda c: str(c.org_id))


EXPORT_SQL = """
SELECT m.member_no, m.name, m.gender, m.ethnicity, m.birth_date, m.id_number_masked,
       m.joined_on, m.joined_place, coalesce(b.name, '') AS branch_name, m.status
FROM members m LEFT JOIN org_replica b ON b.id = m.branch_id
WHERE m.org_path >= :prefix AND m.org_path < :upper AND m.status <> 'left'
ORDER BY m.org_path, m.name, m.id
"""


async def export_batches(
    session: AsyncSession, org: OrgNode, batch: int = EXPORT_BATCH
) -> AsyncIterator[Sequence[Any]]:
    """The subtree's members in list order, `batch` rows at a time from a server-side cursor
    (the ID number masked: the export never opens a sealed one)."""
    prefix = path_text(org.path)
    result = await session.stream(
        text(EXPORT_SQL).execution_options(yield_per=batch),
        {"prefix": prefix, "upper": prefix[:-1] + "0"},
    )
    async for partition in result.partitions(batch):
        yield partition
