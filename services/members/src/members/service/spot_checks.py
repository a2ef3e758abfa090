"""Spot checks (抽查): an upper organisation samples at least 10% of the member records its lower
organisations created or changed in a period, records pass or fail, and a fail orders the lower
organisation to rectify (整改) by a due date."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from members.db import Member, Rectification, SpotCheck, SpotCheckItem
from members.service import PRODUCER, path_text
from shared.assessment import CHILD, IN_SUBTREE, subtree_params
from shared.audit import audit
from shared.calendar import BEIJING, WorkingDayCalendar
from shared.caller import Caller
from shared.db import keyset_after
from shared.events import SpotCheckFailed
from shared.orgtree import OrgNode, is_admin_over
from shared.outbox import record_event
from shared.problems import Problem

MIN_RATIO = 0.10


def sample_size(population: int, ratio: float) -> int:
    """At least the ratio, rounded up, and at least one record when there are any."""
    if population == 0:
        return 0
    return min(population, max(1, math.ceil(population * ratio - 1e-9)))


def _bounds(period_from: date, period_to: date) -> tuple[datetime, datetime]:
    """The period in Beijing time, as UTC instants: [from 00:00, to + 1 day 00:00)."""
    start = datetime.combine(period_from, time(), BEIJING).astimezone(UTC)
    end = datetime.combine(period_to + timedelta(days=1), time(), BEIJING).astimezone(UTC)
    return start, end


async def draw(
    session: AsyncSession,
    caller: Caller,
    org: OrgNode,
    period_from: date,
    period_to: date,
    ratio: float,
) -> tuple[SpotCheck, list[tuple[SpotCheckItem, Member]]]:
    if ratio < MIN_RATIO or ratio > 1:
        raise Problem(
            422,
            "spot_check.ratio_too_low" if ratio < MIN_RATIO else "spot_check.ratio_invalid",
            "The ratio must be at least 0.10 (10%) and at most 1.",
            errors=[{"field": "ratio", "message": "between 0.10 and 1"}],
        )
    if period_to < period_from:
        raise Problem(
            422,
            "spot_check.bad_period",
            "The period ends before it starts.",
            errors=[{"field": "to", "message": "before from"}],
        )
    prefix = path_text(org.path)
    start, end = _bounds(period_from, period_to)
    # Records of the organisations below, not the checking organisation's own (a branch does not
    # spot-check itself): a record changed in the period, creation included.
    in_period = (
        (Member.org_path >= prefix)
        & (Member.org_path < prefix[:-1] + "0")
        & (Member.branch_id != org.id)
        & (Member.status == "active")
        & (
            ((Member.created_at >= start) & (Member.created_at < end))
            | ((Member.updated_at >= start) & (Member.updated_at < end))
        )
    )
    population = int((await session.execute(select(func.count()).where(in_period))).scalar_one())
    size = sample_size(population, ratio)
    check = SpotCheck(
        org_id=org.id,
        period_from=period_from,
        period_to=period_to,
        ratio=ratio,
        population=population,
        checked_by=caller.account_id,
    )
    session.add(check)
    await session.flush()
    sampled = (
        (await session.execute(select(Member).where(in_period).order_by(func.random()).limit(size)))
        .scalars()
        .all()
    )
    items = [
        (
            SpotCheckItem(
                spot_check_id=check.id, member_id=m.id, branch_id=m.branch_id, org_path=m.org_path
            ),
            m,
        )
        for m in sampled
    ]
    session.add_all([item for item, _ in items])
    await session.flush()
    await audit(session, caller, "spot_check.draw", "spot_check", check.id)
    return check, items


async def record_result(
    session: AsyncSession,
    caller: Caller,
    check_id: uuid.UUID,
    item_id: uuid.UUID,
    result: str,
    note: str | None,
    today: date,
    calendar: WorkingDayCalendar,
    rectify_days: int,
) -> tuple[SpotCheckItem, Rectification | None]:
    row = (
        await session.execute(
            select(SpotCheckItem, SpotCheck)
            .join(SpotCheck, SpotCheck.id == SpotCheckItem.spot_check_id)
            .where(SpotCheckItem.id == item_id, SpotCheckItem.spot_check_id == check_id)
            .with_for_update(of=SpotCheckItem)
        )
    ).first()
    if row is None:
        raise Problem(404, "spot_check.item_not_found", "No such spot-check item.")
    item, check = row.SpotCheckItem, row.SpotCheck
    check_path = (
        await session.execute(
            text("SELECT path FROM org_replica WHERE id = :id"), {"id": check.org_id}
        )
    ).scalar_one_or_none()
    if check_path is None or not is_admin_over(caller, check_path):
        raise Problem(404, "spot_check.item_not_found", "No such spot-check item.")
    if item.result is not None:
        raise Problem(
            409, "spot_check.already_recorded", f"This item was already recorded as {item.result}."
        )
    item.result, item.note, item.checked_at = result, note, datetime.now(UTC)
    rectification = None
    if result == "fail":
        rectification = Rectification(
            spot_check_item_id=item.id,
            org_id=item.branch_id,
            member_id=item.member_id,
            note=note,
            due_by=calendar.add_working_days(today, rectify_days),
        )
        session.add(rectification)
    await session.flush()
    if rectification is not None:
        # The org service keeps every rectification in one list and follows it from here.
        await record_event(
            session,
            SpotCheckFailed(
                rectification_id=rectification.id,
                spot_check_item_id=item.id,
                branch_id=item.branch_id,
                checking_org_id=check.org_id,
                due_by=rectification.due_by,
            ),
            PRODUCER,
        )
    await audit(session, caller, f"spot_check.{result}", "spot_check_item", item.id)
    return item, rectification


@dataclass(frozen=True)
class Accuracy:
    org_id: uuid.UUID
    org_path: str
    checked: int
    passed: int

    @property
    def rate(self) -> float | None:
        return self.passed / self.checked if self.checked else None


async def accuracy(
    session: AsyncSession, org: OrgNode, after: tuple[str, uuid.UUID] | None, limit: int
) -> list[Accuracy]:
    """Share of passes per checked organisation (the member's branch) in the subtree, in tree
    order after `after` (org_path, branch id): one range of the index spot_check_items_path."""
    prefix = path_text(org.path)
    stmt = (
        select(
            SpotCheckItem.branch_id,
            SpotCheckItem.org_path,
            func.count(),
            func.count().filter(SpotCheckItem.result == "pass"),
        )
        .where(
            SpotCheckItem.result.is_not(None),
            SpotCheckItem.org_path >= prefix,
            SpotCheckItem.org_path < prefix[:-1] + "0",
        )
        .group_by(SpotCheckItem.org_path, SpotCheckItem.branch_id)
        .order_by(SpotCheckItem.org_path, SpotCheckItem.branch_id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(keyset_after([SpotCheckItem.org_path, SpotCheckItem.branch_id], after))
    return [Accuracy(r[0], r[1], r[2], r[3]) for r in await session.execute(stmt)]


async def accuracy_share(session: AsyncSession, org: OrgNode, year: int) -> Sequence[Any]:
    """The assessment's information accuracy (信息准确率): spot-checked records that passed over
    those checked in the year, per direct child of `org` (by the record's branch)."""
    return list(
        await session.execute(
            text(
                f"SELECT {CHILD} AS child, count(*) FILTER (WHERE i.result = 'pass') AS passed, "  # noqa: S608
                "count(*) AS checked FROM spot_check_items i "
                "JOIN org_replica b ON b.id = i.branch_id "
                "WHERE i.result IS NOT NULL AND i.checked_at >= :year_start "
                f"AND i.checked_at < :year_end AND {IN_SUBTREE} GROUP BY 1"
            ),
            subtree_params(org.path, year),
        )
    )
