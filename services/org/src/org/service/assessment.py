"""The annual assessment report (年度考核) of an organisation's subtree: every service's figures,
each over the whole subtree with each direct child's, in one answer.

The org service computes its own two (organisations created and dissolved in time,
rectifications in time) and asks the service that owns each other figure for it, all at once;
a service that does not answer in time leaves its figures out and named in `unavailable`, so a
report is never a 500 and never silently incomplete.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from org.service import get_org
from shared.assessment import Share, SubtreeShare, subtree_params, subtree_share
from shared.caller import SYSTEM_CALLER, Caller, sign_caller
from shared.logging import get_logger
from shared.orgtree import require_admin_over

log = get_logger(__name__)

# Every figure of the report, in the order it is shown: key -> (owning service, 中文名).
INDICATORS: dict[str, tuple[str, str]] = {
    "system_usage": ("identity", "系统使用率"),
    "information_accuracy": ("members", "信息准确率"),
    "transfer_timeliness": ("transfers", "转接及时率"),
    "dues_collection": ("fees", "团费收缴率"),
    "remittance_timeliness": ("fees", "团费按时上缴率"),
    "activity_summaries": ("activities", "活动总结完成率"),
    "org_management": ("org", "组织建立与撤销及时率"),
    "rectification_timeliness": ("org", "整改及时率"),
}
REMOTE_TIMEOUT_SECONDS = 10.0

# The subtree's organisations created (approved) or dissolved (decided) in the year, and whether
# each was recorded in time; per direct child.
ORG_MANAGEMENT_SQL = """
WITH changes AS (
  SELECT path, NOT created_late AS in_time FROM orgs
  WHERE approved_on BETWEEN :first_day AND :last_day
  UNION ALL
  SELECT path, NOT dissolution_late FROM orgs
  WHERE dissolution_decided_on BETWEEN :first_day AND :last_day
)
SELECT b.path[CAST(:depth AS int) + 1] AS child, count(*) FILTER (WHERE in_time), count(*)
FROM changes b WHERE b.path[1:CAST(:depth AS int)] = CAST(:path AS uuid[]) GROUP BY 1
"""
# Rectification notices due in the year: in time unless still waiting past the due date, or
# last reported after it.
RECTIFICATION_SQL = """
SELECT r.org_path[CAST(:depth AS int) + 1] AS child,
  count(*) FILTER (WHERE NOT (
    (status IN ('open', 'sent_back') AND due_by < :today)
    OR coalesce((submitted_at AT TIME ZONE 'Asia/Shanghai')::date > due_by, false))),
  count(*)
FROM rectifications r
WHERE r.org_path @> ARRAY[CAST(:org AS uuid)] AND r.due_by BETWEEN :first_day AND :last_day
GROUP BY 1
"""


@dataclass(frozen=True)
class Report:
    org_id: uuid.UUID
    year: int
    indicators: list[SubtreeShare]
    unavailable: list[str]
    names: dict[uuid.UUID, str]  # the direct children's names


async def _local(
    session: AsyncSession, org_id: uuid.UUID, path: Sequence[uuid.UUID], year: int, today: date
) -> list[SubtreeShare]:
    params = {**subtree_params(path, year), "org": org_id, "today": today}
    management = await session.execute(text(ORG_MANAGEMENT_SQL), params)
    rectifications = await session.execute(text(RECTIFICATION_SQL), params)
    return [
        subtree_share("org_management", year, org_id, management),
        subtree_share("rectification_timeliness", year, org_id, rectifications),
    ]


async def _remote(
    client: httpx.AsyncClient, urls: Mapping[str, str], secret: str, org_id: uuid.UUID, year: int
) -> tuple[list[SubtreeShare], list[str]]:
    """Every other service's figures at once; (figures, keys of those that did not answer)."""
    headers = sign_caller(SYSTEM_CALLER, secret)
    wanted = [(key, svc) for key, (svc, _) in INDICATORS.items() if svc != "org"]

    async def one(key: str, service: str) -> SubtreeShare | None:
        url = f"{urls[service]}/internal/orgs/{org_id}/assessment/{key.replace('_', '-')}"
        try:
            r = await client.get(url, params={"year": year}, headers=headers)
            r.raise_for_status()
            return SubtreeShare.model_validate(r.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("assessment_figure_unavailable", indicator=key, error=type(exc).__name__)
            return None

    found = await asyncio.gather(*(one(key, svc) for key, svc in wanted))
    return [f for f in found if f is not None], [
        key for (key, _), f in zip(wanted, found, strict=True) if f is None
    ]


def _with_every_child(figure: SubtreeShare, children: Sequence[uuid.UUID]) -> SubtreeShare:
    """Each direct child once, those without anything counted as 0 of 0."""
    by_id = {c.org_id: c for c in figure.children}
    filled = [by_id.get(child) or Share.of(child, 0, 0) for child in children]
    return figure.model_copy(update={"children": filled})


async def report(
    session: AsyncSession,
    caller: Caller,
    org_id: uuid.UUID,
    year: int,
    *,
    urls: Mapping[str, str],
    secret: str,
    today: date,
    client: httpx.AsyncClient | None = None,
) -> Report:
    org = await get_org(session, org_id)
    require_admin_over(caller, org.path)
    children = list(
        await session.execute(
            text("SELECT id, name FROM orgs WHERE parent_id = :org ORDER BY name, id"),
            {"org": org_id},
        )
    )
    local = await _local(session, org_id, org.path, year, today)
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=REMOTE_TIMEOUT_SECONDS)
    try:
        remote, unavailable = await _remote(http, urls, secret, org_id, year)
    finally:
        if own_client:
            await http.aclose()
    order = list(INDICATORS)
    figures = sorted([*remote, *local], key=lambda f: order.index(f.indicator))
    child_ids = [c.id for c in children]
    return Report(
        org_id=org_id,
        year=year,
        indicators=[_with_every_child(f, child_ids) for f in figures],
        unavailable=unavailable,
        names={c.id: c.name for c in children},
    )


def indicator_name(key: str) -> str:
    return INDICATORS[key][1]


@dataclass
class OrgCounts:
    org_id: uuid.UUID
    total: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, org_type: str, status: str, n: int) -> None:
        self.total += n
        self.by_type[org_type] = self.by_type.get(org_type, 0) + n
        self.by_status[status] = self.by_status.get(status, 0) + n


async def org_statistics(
    session: AsyncSession, caller: Caller, org_id: uuid.UUID
) -> tuple[OrgCounts, list[OrgCounts], dict[uuid.UUID, str]]:
    """The organisations below `org_id` by type and status (统计报表), with each direct child's
    subtree (the child included); one grouped statement."""
    org = await get_org(session, org_id)
    require_admin_over(caller, org.path)
    rows = await session.execute(
        text(
            "SELECT path[CAST(:depth AS int) + 1] AS child, org_type, status, count(*) AS n "
            "FROM orgs WHERE path @> ARRAY[CAST(:org AS uuid)] AND id <> :org GROUP BY 1, 2, 3"
        ),
        {"depth": len(org.path), "org": org_id},
    )
    total, children = OrgCounts(org_id), dict[uuid.UUID, OrgCounts]()
    for row in rows:
        total.add(row.org_type, row.status, int(row.n))
        children.setdefault(row.child, OrgCounts(row.child)).add(
            row.org_type, row.status, int(row.n)
        )
    names = {
        r.id: r.name
        for r in await session.execute(
            text("SELECT id, name FROM orgs WHERE parent_id = :org"), {"org": org_id}
        )
    }
    return total, sorted(children.values(), key=lambda c: names.get(c.org_id, "")), names
