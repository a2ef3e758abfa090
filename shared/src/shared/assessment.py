"""The annual assessment's figures (年度考核), as every service gives them: a share (numerator over
denominator) over an organisation's whole subtree, with each direct child's, so an admin sees
who pulls the figure down. Each service computes its own from its own data with one grouped
statement (`b.path[depth + 1]` names the child a row belongs to) behind
`GET /internal/orgs/{id}/assessment/{indicator}?year=`; the org service combines them in
`GET /orgs/{id}/assessment`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.calendar import BEIJING


class Share(BaseModel):
    org_id: uuid.UUID
    numerator: int
    denominator: int
    rate: float | None = Field(description="numerator / denominator; none when nothing counted")

    @classmethod
    def of(cls, org_id: uuid.UUID, numerator: int, denominator: int) -> Share:
        rate = round(numerator / denominator, 4) if denominator else None
        return cls(org_id=org_id, numerator=numerator, denominator=denominator, rate=rate)


class SubtreeShare(Share):
    indicator: str
    year: int
    children: list[Share]


def subtree_share(
    indicator: str, year: int, org_id: uuid.UUID, rows: Iterable[Any]
) -> SubtreeShare:
    """From grouped rows `(child, numerator, denominator)`: the subtree's total and each direct
    child's (a row whose child is None counts for the organisation itself, in the total only)."""
    found = list(rows)
    total = Share.of(org_id, sum(int(r[1]) for r in found), sum(int(r[2]) for r in found))
    children = sorted(
        (Share.of(r[0], int(r[1]), int(r[2])) for r in found if r[0] is not None),
        key=lambda s: str(s.org_id),
    )
    return SubtreeShare(**total.model_dump(), indicator=indicator, year=year, children=children)


def subtree_params(path: Sequence[uuid.UUID], year: int) -> dict[str, Any]:
    """The bound values of a subtree-per-child statement for a year: `:depth`, `:path` (the
    organisation's path), `:year_start` and `:year_end` (Beijing's year as UTC instants) and
    `:first_day` / `:last_day` (its dates)."""
    return {
        "depth": len(path),
        "path": list(path),
        "year_start": datetime(year, 1, 1, tzinfo=BEIJING).astimezone(UTC),
        "year_end": datetime(year + 1, 1, 1, tzinfo=BEIJING).astimezone(UTC),
        "first_day": date(year, 1, 1),
        "last_day": date(year, 12, 31),
    }


# The child of `:path` a replica row `b` lies under (NULL: the organisation itself), and the
# condition that it lies in the subtree at all.
CHILD = "b.path[CAST(:depth AS int) + 1]"
IN_SUBTREE = "b.path[1:CAST(:depth AS int)] = CAST(:path AS uuid[])"
