"""Fee profiles (缴费信息): a member's category and income, and the monthly amount they make.

The income is personal data: it is sealed at once, never logged, never in an event, and the
month start reads only the amount derived here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fees.db import FeeMember, FeeProfile
from fees.domain.rates import SALARIED, FeeRuleError, RateTable
from fees.rules import FeeRules
from fees.service import refused_by_rules
from fees.service.cycles import first_month_billed, follow_into_unbegun_months
from shared.assessment import CHILD, IN_SUBTREE
from shared.audit import audit
from shared.caller import Caller
from shared.orgtree import OrgNode, is_admin_over, replica_node
from shared.problems import Problem

# Which request field a rule's refusal is about, for the `errors` a form shows beside it.
_FIELD_OF = {
    "fee.income_required": "monthly_income_fen",
    "fee.income_invalid": "monthly_income_fen",
    "fee.unknown_category": "category",
}


@dataclass(frozen=True)
class ProfileSet:
    member_id: uuid.UUID
    category: str
    monthly_fee_fen: int
    rate_table: str
    updated_at: datetime


def member_not_found() -> Problem:
    return Problem(404, "member.not_found", "No such member, or not one you may see.")


async def visible_member(session: AsyncSession, caller: Caller, member_id: uuid.UUID) -> FeeMember:
    """The member, for the member themselves and admins over their branch; 404 to anyone else,
    who need not learn the member exists."""
    member = await session.get(FeeMember, member_id)
    if member is None:
        raise member_not_found()
    if caller.member_id == member.member_id:
        return member
    branch = await replica_node(session, member.branch_id)
    if branch is None or not is_admin_over(caller, branch.path):
        raise member_not_found()
    return member


async def _pricing_table(session: AsyncSession, rules: FeeRules, today: date) -> RateTable:
    """The table that prices a profile set now: the one in force in the first month it is
    billed in (first_month_billed); 422 if the schedule has none for it."""
    try:
        return rules.schedule.in_force(await first_month_billed(session, today))
    except FeeRuleError as refused:
        raise refused_by_rules(refused, "category") from None


async def set_profile(
    session: AsyncSession,
    caller: Caller,
    rules: FeeRules,
    member_id: uuid.UUID,
    category: str,
    income_fen: int | None,
    *,
    today: date,
) -> ProfileSet:
    member = await visible_member(session, caller, member_id)
    table = await _pricing_table(session, rules, today)
    try:
        amount_fen = table.monthly_fen(category, income_fen)
    except FeeRuleError as refused:
        raise refused_by_rules(refused, _FIELD_OF.get(refused.code, "category")) from None
    # Only a salary is kept; a category's flat amount needs no income, so none is stored.
    sealed = (
        rules.income_sealer.seal(str(income_fen), member.member_id.bytes)
        if category == SALARIED
        else None
    )
    values = {
        "category": category,
        "income_sealed": sealed,
        "monthly_fee_fen": amount_fen,
        "rate_table": table.name,
        "updated_by": caller.account_id,
        "updated_at": func.now(),
    }
    statement = (
        insert(FeeProfile)
        .values(member_id=member.member_id, **values)
        .on_conflict_do_update(index_elements=[FeeProfile.member_id], set_=values)
        .returning(FeeProfile.updated_at)
    )
    updated_at = (await session.execute(statement)).scalar_one()
    await session.execute(
        text("UPDATE fee_members SET monthly_fee_fen = :amount WHERE member_id = :m"),
        {"amount": amount_fen, "m": member.member_id},
    )
    await follow_into_unbegun_months(session, [member.member_id], today)
    await audit(session, caller, "fee.profile_set", "member", member.member_id)
    return ProfileSet(member.member_id, category, amount_fen, table.name, updated_at)


@dataclass(frozen=True)
class ProfileForm:
    """What the profile form shows: the member's profile (None: not filled in yet) and the
    categories of the rate table that prices their next bill."""

    member_id: uuid.UUID
    profile: FeeProfile | None
    rate_table: str
    categories: list[str]


async def profile_form(
    session: AsyncSession, caller: Caller, rules: FeeRules, member_id: uuid.UUID, *, today: date
) -> ProfileForm:
    member = await visible_member(session, caller, member_id)
    table = await _pricing_table(session, rules, today)
    profile = await session.get(FeeProfile, member.member_id)
    return ProfileForm(member.member_id, profile, table.name, table.category_names)


# Active members of a subtree by dues category (`missing`: no fee profile yet), per direct child.
CATEGORIES_SQL = (
    f"SELECT {CHILD} AS child, coalesce(p.category, 'missing') AS category, count(*) AS n "  # noqa: S608
    "FROM fee_members m JOIN org_replica b ON b.id = m.branch_id "
    "LEFT JOIN fee_profiles p ON p.member_id = m.member_id "
    f"WHERE m.status = 'active' AND {IN_SUBTREE} GROUP BY 1, 2"
)


@dataclass
class CategoryCounts:
    org_id: uuid.UUID
    total: int = 0
    by_category: dict[str, int] = field(default_factory=dict)

    def add(self, category: str, n: int) -> None:
        self.total += n
        self.by_category[category] = self.by_category.get(category, 0) + n


async def categories(
    session: AsyncSession, org: OrgNode
) -> tuple[CategoryCounts, list[CategoryCounts]]:
    """Members by category (student, salaried, unemployed, ... 统计报表) over the subtree, and
    each direct child's; one grouped statement."""
    params = {"depth": len(org.path), "path": list(org.path)}
    total, children = CategoryCounts(org.id), dict[uuid.UUID, CategoryCounts]()
    for row in await session.execute(text(CATEGORIES_SQL), params):
        total.add(row.category, int(row.n))
        if row.child is not None:
            children.setdefault(row.child, CategoryCounts(row.child)).add(row.category, int(row.n))
    return total, sorted(children.values(), key=lambda c: str(c.org_id))
