"""A new rate table in force: every profile's amount recomputed in batches, resumably, from the
sealed incomes, so the month start never decrypts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import httpx
import pytest

from fees.domain.months import next_month
from fees.main import create_app
from fees.rules import fee_rules
from fees.service import amounts
from fees.service.amounts import Recomputation, recompute_amounts
from fees.service.cycles import first_month_billed
from fees.settings import FeesSettings
from shared.calendar import beijing_today
from shared.process import resources_of
from shared.testing_app import running_app

from .conftest import Tree
from .test_profiles import new_members

NEW_TABLE_FROM = date(2027, 1, 1)


class Interrupted(Exception):
    """The operator's run stopped after its first batch (a kill, a lost connection)."""


def stop_after_first_batch(_: Recomputation) -> None:
    raise Interrupted


async def test_a_new_rate_table_recomputes_every_amount_in_batches_and_a_rerun_finishes(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    db,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    members = await new_members(settings, tree.branch_a, 5)
    bodies = [
        {"category": "salaried", "monthly_income_fen": 150_000},
        {"category": "salaried", "monthly_income_fen": 300_000},
        {"category": "salaried", "monthly_income_fen": 300_001},
        {"category": "salaried", "monthly_income_fen": 2_500_000},
        {"category": "student"},
    ]
    for member, body in zip(members, bodies, strict=True):
        r = await client.put(f"/members/{member}/fee-profile", json=body, headers=admin(tree.city))
        assert r.status_code == 200, r.text

    async def amounts_of() -> dict[object, tuple[int, str]]:
        rows = await db(
            "SELECT member_id, p.monthly_fee_fen, rate_table, m.monthly_fee_fen AS billed "
            "FROM fee_profiles p JOIN fee_members m USING (member_id) "
            "WHERE member_id = ANY(:ids)",
            ids=members,
        )
        # What the month start bills (the amount beside the member) is the profile's.
        assert [r.billed for r in rows] == [r.monthly_fee_fen for r in rows]
        return {r.member_id: (r.monthly_fee_fen, r.rate_table) for r in rows}

    before = await amounts_of()
    assert [before[m] for m in members] == [
        (750, "regulation"),
        (1_500, "regulation"),
        (3_000, "regulation"),
        (50_000, "regulation"),
        (20, "regulation"),
    ]
    [stale] = await db("SELECT count(*) AS n FROM fee_profiles WHERE rate_table <> 'league2016'")

    # The province puts the league's 2016 rule in force from January.
    later = settings.model_copy(
        update={"rate_schedule": f"regulation@2000-01-01,league2016@{NEW_TABLE_FROM}"}
    )
    rules = fee_rules(later)
    monkeypatch.setattr(amounts, "BATCH", 2)
    async with resources_of(settings) as resources:
        with pytest.raises(Interrupted):
            await recompute_amounts(
                resources.sessions, rules, NEW_TABLE_FROM, stop_after_first_batch
            )
        [done_first] = await db(
            "SELECT count(*) AS n FROM fee_profiles WHERE rate_table = 'league2016'"
        )
        assert done_first.n == 2  # the first batch is kept, nothing else touched

        rerun = await recompute_amounts(resources.sessions, rules, NEW_TABLE_FROM)
        assert rerun.table == "league2016" and rerun.refused == {}
        assert rerun.checked == stale.n - 2  # the rerun reads only what is left
        # Under 2,000 yuan 3 yuan flat; otherwise 2‰ of the whole yuan, at most 20 yuan.
        after = await amounts_of()
        assert [after[m] for m in members] == [
            (300, "league2016"),
            (600, "league2016"),
            (600, "league2016"),
            (2_000, "league2016"),
            (20, "league2016"),
        ]

        # A category the table in force does not know is left as it was, and named.
        await db("UPDATE fee_profiles SET category = 'relief' WHERE member_id = :m", m=members[4])
        back = await recompute_amounts(resources.sessions, rules, date(2026, 12, 1))
    assert back.table == "regulation"
    assert back.refused == {members[4]: "fee.unknown_category"}
    after_back = await amounts_of()
    assert [after_back[m] for m in members] == [
        *[before[m] for m in members[:4]],
        (20, "league2016"),
    ]
    [audited] = await db(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'fee.amounts_recomputed' "
        "AND actor_role = 'operator'"
    )
    assert audited.n == 2  # one per finished run


async def test_a_profile_set_after_this_months_bills_is_priced_by_next_months_table(
    settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    """January's table comes into force; set in December once December's cycle has opened, a
    profile is billed first in January, so January's table prices it, as the operator's
    `recompute-amounts` priced everyone else's for January."""
    this_month = beijing_today().replace(day=1)
    later = settings.model_copy(
        update={"rate_schedule": f"regulation@2000-01-01,league2016@{next_month(this_month)}"}
    )
    # This month's cycle, opened (and taken back after: a later test opens it for real).
    made = await db(
        "INSERT INTO fee_cycles (month, chunks_total, finished_at) VALUES (:m, 0, now()) "
        "ON CONFLICT (month) DO NOTHING RETURNING month",
        m=this_month,
    )
    [member] = await new_members(settings, tree.branch_a)
    try:
        async with running_app(create_app(later)) as client:
            r = await client.put(
                f"/members/{member}/fee-profile",
                json={"category": "salaried", "monthly_income_fen": 800_000},
                headers=admin(tree.city),
            )
    finally:
        if made:
            await db("DELETE FROM fee_cycles WHERE month = :m", m=this_month)
    assert r.status_code == 200, r.text
    # 2‰ of 8,000 yuan under the 2016 rule (the regulation's 1.5% would be 12,000 fen).
    assert (r.json()["rate_table"], r.json()["monthly_fee_fen"]) == ("league2016", 1_600)
    [billed] = await db("SELECT monthly_fee_fen FROM fee_members WHERE member_id = :m", m=member)
    assert billed.monthly_fee_fen == 1_600


async def test_a_profile_is_priced_for_this_month_until_its_cycle_opens_then_the_next(
    settings: FeesSettings, db
) -> None:
    """A month no other test opens (cycles open at most a month ahead of today)."""
    today = date(2040, 3, 10)
    async with resources_of(settings) as resources, resources.sessions() as session:
        assert await first_month_billed(session, today) == date(2040, 3, 1)
        await db("INSERT INTO fee_cycles (month, chunks_total) VALUES ('2040-03-01', 0)")
        assert await first_month_billed(session, today) == date(2040, 4, 1)
        # April opened early: its bills follow the profile, so April's table still prices it.
        await db("INSERT INTO fee_cycles (month, chunks_total) VALUES ('2040-04-01', 0)")
        assert await first_month_billed(session, today) == date(2040, 4, 1)
    await db("DELETE FROM fee_cycles WHERE month >= '2040-01-01'")
