"""Fee profiles: who may set one, what it makes a month, and the income kept sealed."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from fees.handlers import MEMBER_COPY, MEMBERS_QUEUE, subscriptions
from fees.rules import fee_rules
from fees.settings import FeesSettings
from shared.events import (
    Envelope,
    Event,
    ImportedMember,
    MemberDeparted,
    MembersImported,
    MemberTransferred,
    MemberUpdated,
)
from shared.process import build_resources
from shared.testing import deliver as deliver_events
from shared.testing import planned_as_for_a_province, seed_branch_tree, until_waiting_for_a_lock

from .conftest import Tree


async def deliver(settings: FeesSettings, *events: Event) -> None:
    """Run the real consumer (inbox and batching included) as the bus would."""
    await deliver_events(settings, subscriptions, MEMBERS_QUEUE, *events)


def transferred(member: uuid.UUID, old: uuid.UUID, new: uuid.UUID) -> MemberTransferred:
    """The members service's event for a completed transfer between two branches."""
    return MemberTransferred(
        member_id=member,
        transfer_id=uuid.uuid4(),
        from_branch_id=old,
        to_branch_id=new,
        from_path=[old],
        to_path=[new],
    )


async def new_members(settings: FeesSettings, branch: uuid.UUID, n: int = 1) -> list[uuid.UUID]:
    members = [
        ImportedMember(
            member_id=uuid.uuid4(),
            member_no=f"2026{uuid.uuid4().int % 10**8:08d}",
            name=f"团员{i}",
            joined_on=date(2024, 5, 4),
        )
        for i in range(n)
    ]
    await deliver(settings, MembersImported(branch_id=branch, members=members))
    return [m.member_id for m in members]


async def test_members_are_copied_from_events_with_their_later_names(
    settings: FeesSettings, tree: Tree, db
) -> None:
    [member] = await new_members(settings, tree.branch_a)
    await deliver(
        settings,
        MemberUpdated(
            member_id=member,
            branch_id=tree.branch_a,
            changed_fields=["name"],
            values={"name": "李四"},
        ),
    )
    [row] = await db(
        "SELECT branch_id, name, status FROM fee_members WHERE member_id = :m", m=member
    )
    assert (row.branch_id, row.name, row.status) == (tree.branch_a, "李四", "active")


async def test_a_change_that_overtakes_the_members_creation_is_kept_for_it(
    settings: FeesSettings, tree: Tree, db
) -> None:
    # The creation failed once and waits for its retry; the change behind it went through.
    member = ImportedMember(
        member_id=uuid.uuid4(), member_no="202612030001", name="王五", joined_on=date(2024, 5, 4)
    )
    await deliver(
        settings,
        MemberUpdated(
            member_id=member.member_id,
            branch_id=tree.branch_a,
            changed_fields=["name", "status"],
            values={"name": "王五六", "status": "inactive"},
        ),
    )
    assert not await db("SELECT 1 FROM fee_members WHERE member_id = :m", m=member.member_id)
    await deliver(settings, MembersImported(branch_id=tree.branch_a, members=[member]))
    [row] = await db(
        "SELECT name, status FROM fee_members WHERE member_id = :m", m=member.member_id
    )
    assert (row.name, row.status) == ("王五六", "inactive")  # not billed as the creation said
    assert not await db("SELECT 1 FROM fee_member_updates WHERE member_id = :m", m=member.member_id)


async def test_the_copy_follows_a_transfer_and_a_departure_in_either_order(
    settings: FeesSettings, tree: Tree, db
) -> None:
    [moved, left] = await new_members(settings, tree.branch_a, 2)
    transfer = transferred(moved, tree.branch_a, tree.branch_b)
    departure = MemberDeparted(
        member_id=left, branch_id=tree.branch_a, reason="over_age", on=date(2026, 12, 1)
    )
    await deliver(settings, transfer, departure)
    rows = await db(
        "SELECT member_id, branch_id, status FROM fee_members WHERE member_id IN (:a, :b)",
        a=moved,
        b=left,
    )
    # Billed in the new branch from the next cycle; the one who left is billed no more.
    assert {(r.member_id, r.branch_id, r.status) for r in rows} == {
        (moved, tree.branch_b, "active"),
        (left, tree.branch_a, "left"),
    }
    # A transfer that reaches the copy before the member does waits for it.
    late = ImportedMember(
        member_id=uuid.uuid4(), member_no="202612030002", name="赵六", joined_on=date(2024, 5, 4)
    )
    await deliver(settings, transfer.model_copy(update={"member_id": late.member_id}))
    await deliver(settings, MembersImported(branch_id=tree.branch_a, members=[late]))
    [row] = await db("SELECT branch_id FROM fee_members WHERE member_id = :m", m=late.member_id)
    assert row.branch_id == tree.branch_b


async def test_a_change_delivered_late_does_not_undo_a_newer_one(
    settings: FeesSettings, tree: Tree, db
) -> None:
    """The first transfer's event failed once and comes back from its retry queue after the
    second transfer's; a rename and a status behind a newer one likewise."""
    [member] = await new_members(settings, tree.branch_a)
    first = transferred(member, tree.branch_a, tree.branch_b)
    first_sent = first.envelope("members")
    second = transferred(member, tree.branch_b, tree.branch_a)
    renamed = MemberUpdated(
        member_id=member, branch_id=tree.branch_a, changed_fields=["name"], values={"name": "旧名"}
    )
    renamed_sent = renamed.envelope("members")
    renamed_again = renamed.model_copy(update={"values": {"name": "新名"}})
    await deliver(settings, second, renamed_again, (first, first_sent), (renamed, renamed_sent))
    [row] = await db("SELECT branch_id, name FROM fee_members WHERE member_id = :m", m=member)
    assert (row.branch_id, row.name) == (tree.branch_a, "新名")
    # The same before the member's creation: the newer changes wait for it, not the older.
    late = ImportedMember(
        member_id=uuid.uuid4(), member_no="202612070001", name="孙七", joined_on=date(2024, 5, 4)
    )
    older = renamed.model_copy(update={"member_id": late.member_id})
    older_sent = older.envelope("members")
    newer = renamed_again.model_copy(update={"member_id": late.member_id})
    moved = transferred(late.member_id, tree.branch_a, tree.branch_b)
    await deliver(settings, newer, (older, older_sent), moved)
    await deliver(settings, MembersImported(branch_id=tree.branch_a, members=[late]))
    [row] = await db(
        "SELECT branch_id, name FROM fee_members WHERE member_id = :m", m=late.member_id
    )
    assert (row.branch_id, row.name) == (tree.branch_b, "新名")


async def test_two_processes_renaming_the_same_members_in_opposite_orders_both_commit(
    settings: FeesSettings, tree: Tree, db
) -> None:
    """Two consumer processes, each with a batch that changes the same two members, one in the
    other's order. Each locks the members' rows in id order: the second waits for the first,
    where locking them in its batch's order deadlocked (one batch rolled back, a retry later)."""
    x, y = (
        ImportedMember(
            member_id=uuid.uuid4(),
            member_no=f"20261208000{n}",
            name="甲乙",
            joined_on=date(2024, 5, 4),
        )
        for n in (1, 2)
    )
    await deliver(settings, MembersImported(branch_id=tree.branch_a, members=[x, y]))

    def renamed(member: ImportedMember, name: str) -> tuple[Event, Envelope]:
        event = MemberUpdated(
            member_id=member.member_id,
            branch_id=tree.branch_a,
            changed_fields=["name"],
            values={"name": name},
        )
        return event, event.envelope("members")

    resources = build_resources(settings)
    try:
        async with (
            resources.sessions() as holder,
            resources.sessions() as one,
            resources.sessions() as other,
        ):
            # The first member's row held, so that each batch is stopped at its first lock:
            # in its own order, the first would then hold y and wait for x, the other the
            # reverse.
            await holder.begin()
            await MEMBER_COPY.hold(holder, [x.member_id])
            first = asyncio.create_task(
                apply_and_commit(one, [renamed(x, "一甲"), renamed(y, "一乙")])
            )
            await until_waiting_for_a_lock(resources.sessions, first)
            second = asyncio.create_task(
                apply_and_commit(other, [renamed(y, "二乙"), renamed(x, "二甲")])
            )
            await asyncio.sleep(0.3)  # the second batch meets the locks
            await holder.commit()
            failed = await asyncio.gather(first, second, return_exceptions=True)
            assert failed == [None, None], failed  # no batch deadlocked
    finally:
        await resources.engine.dispose()
    rows = await db(
        "SELECT name FROM fee_members WHERE member_id = ANY(:ids) ORDER BY name",
        ids=[x.member_id, y.member_id],
    )
    assert len({r.name[0] for r in rows}) == 1  # both from one batch: the one that ran last


async def apply_and_commit(session: Any, batch: list[tuple[Event, Envelope]]) -> None:
    await session.begin()
    await planned_as_for_a_province(session)
    await MEMBER_COPY.apply(session, batch)
    await session.commit()


async def test_a_change_kept_while_another_process_copied_the_member_is_applied_next(
    settings: FeesSettings, tree: Tree, db
) -> None:
    """Two consumer processes: one keeps a transfer for a member not copied yet, while the
    other copies the member; neither transaction sees the other's row. The next batch of
    either applies it."""
    member = ImportedMember(
        member_id=uuid.uuid4(), member_no="202612070002", name="并发", joined_on=date(2024, 5, 4)
    )
    created = MembersImported(branch_id=tree.branch_a, members=[member])
    moved = transferred(member.member_id, tree.branch_a, tree.branch_b)
    resources = build_resources(settings)
    try:
        async with resources.sessions() as one, resources.sessions() as other:
            await one.begin()
            await MEMBER_COPY.apply(one, [(moved, moved.envelope("members"))])  # kept
            await other.begin()
            await MEMBER_COPY.apply(other, [(created, created.envelope("members"))])
            await other.commit()
            await one.commit()
    finally:
        await resources.engine.dispose()

    async def branch() -> uuid.UUID:
        [row] = await db(
            "SELECT branch_id FROM fee_members WHERE member_id = :m", m=member.member_id
        )
        return row.branch_id

    assert await branch() == tree.branch_a  # the race, as it ends
    await new_members(settings, tree.branch_b)  # any next batch
    assert await branch() == tree.branch_b


async def test_a_member_declares_a_salary_and_sees_what_it_makes_a_month(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, member_caller: Callable, db
) -> None:
    [member] = await new_members(settings, tree.branch_a)
    url, mine = f"/members/{member}/fee-profile", member_caller(tree.branch_a, member)
    # The form, before: nothing filled in, and what may be declared.
    blank = await client.get(url, headers=mine)
    assert blank.status_code == 200, blank.text
    assert blank.json()["category"] is None and blank.json()["monthly_fee_fen"] is None
    assert blank.json()["categories"] == ["salaried", "student"]
    r = await client.put(
        url, json={"category": "salaried", "monthly_income_fen": 300_001}, headers=mine
    )
    assert r.status_code == 200, r.text
    assert r.json()["monthly_fee_fen"] == 3_000 and r.json()["rate_table"] == "regulation"
    assert "300001" not in r.text  # the income is not given back
    shown = await client.get(url, headers=mine)
    assert (shown.json()["category"], shown.json()["monthly_fee_fen"]) == ("salaried", 3_000)
    assert "300001" not in shown.text
    # At rest the income is sealed to this member; only the service's key opens it.
    [row] = await db("SELECT income_sealed FROM fee_profiles WHERE member_id = :m", m=member)
    assert "300001" not in row.income_sealed
    assert fee_rules(settings).income_sealer.open(row.income_sealed, member.bytes) == "300001"


async def test_an_admin_over_the_branch_sets_a_category_and_the_income_is_dropped(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    [member] = await new_members(settings, tree.branch_a)
    for body in (
        {"category": "salaried", "monthly_income_fen": 800_000},
        {"category": "student"},
    ):
        r = await client.put(
            f"/members/{member}/fee-profile", json=body, headers=admin(tree.county_a)
        )
        assert r.status_code == 200, r.text
    assert r.json()["monthly_fee_fen"] == 20
    [row] = await db(
        "SELECT income_sealed, category FROM fee_profiles WHERE member_id = :m", m=member
    )
    assert row.income_sealed is None and row.category == "student"


async def test_nobody_else_learns_the_member_exists(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
) -> None:
    [member] = await new_members(settings, tree.branch_a)
    body = {"category": "student"}
    for headers in (
        admin(tree.county_b),  # another county
        admin(tree.branch_b),
        member_caller(tree.branch_a, uuid.uuid4()),  # a member of the same branch
    ):
        r = await client.put(f"/members/{member}/fee-profile", json=body, headers=headers)
        assert r.status_code == 404 and r.json()["code"] == "member.not_found"
        seen = await client.get(f"/members/{member}/fee-profile", headers=headers)
        assert seen.status_code == 404 and seen.json()["code"] == "member.not_found"
    r = await client.put(
        f"/members/{uuid.uuid4()}/fee-profile", json=body, headers=admin(tree.root)
    )
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"category": "salaried", "monthly_income_fen": 0},
            "fee.income_invalid",
            "monthly_income_fen",
        ),
        (
            {"category": "salaried", "monthly_income_fen": -5},
            "fee.income_invalid",
            "monthly_income_fen",
        ),
        (
            {"category": "salaried", "monthly_income_fen": 10**12},
            "fee.income_invalid",
            "monthly_income_fen",
        ),
        (  # 0.5% of 0.50 yuan is a quarter of a fen: a salary that makes no dues
            {"category": "salaried", "monthly_income_fen": 50},
            "fee.income_invalid",
            "monthly_income_fen",
        ),
        (  # not kept for a category, but still a mistake
            {"category": "student", "monthly_income_fen": -500},
            "fee.income_invalid",
            "monthly_income_fen",
        ),
        (
            {"category": "salaried", "monthly_income_fen": True},
            "request.invalid",
            "monthly_income_fen",
        ),
        (
            {"category": "salaried", "monthly_income_fen": "600000"},
            "request.invalid",
            "monthly_income_fen",
        ),
        ({"category": "salaried"}, "fee.income_required", "monthly_income_fen"),
        ({"category": "unemployed"}, "fee.unknown_category", "category"),
    ],
)
async def test_a_profile_the_rules_cannot_bill_is_422_and_nothing_is_kept(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    db,
    body: dict[str, object],
    code: str,
    field: str,
) -> None:
    [member] = await new_members(settings, tree.branch_a)
    r = await client.put(f"/members/{member}/fee-profile", json=body, headers=admin(tree.city))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code and r.json()["errors"][0]["field"] == field
    assert not await db("SELECT 1 FROM fee_profiles WHERE member_id = :m", m=member)


async def test_members_are_counted_by_category_per_child(
    client: httpx.AsyncClient, settings: FeesSettings, admin: Callable
) -> None:
    resources = build_resources(settings)
    try:
        tree = await seed_branch_tree(resources.sessions)
    finally:
        await resources.engine.dispose()
    in_a = await new_members(settings, tree.branch_a, 3)
    in_b = await new_members(settings, tree.branch_b, 2)
    profiles = [
        (in_a[0], {"category": "student"}),
        (in_a[1], {"category": "salaried", "monthly_income_fen": 500_000}),
        (in_b[0], {"category": "student"}),
    ]
    for member, body in profiles:
        r = await client.put(f"/members/{member}/fee-profile", json=body, headers=admin(tree.root))
        assert r.status_code == 200, r.text
    r = await client.get(f"/orgs/{tree.city}/member-categories", headers=admin(tree.city))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 5
    assert body["by_category"] == {"student": 2, "salaried": 1, "missing": 2}
    children = {c["org_id"]: c["by_category"] for c in body["children"]}
    assert children == {
        str(tree.county_a): {"student": 1, "salaried": 1, "missing": 1},
        str(tree.county_b): {"student": 1, "missing": 1},
    }
    other = await client.get(f"/orgs/{tree.city}/member-categories", headers=admin(tree.county_a))
    assert other.status_code == 403
    sheet = await client.get(
        f"/orgs/{tree.city}/member-categories/export", headers=admin(tree.city)
    )
    assert sheet.status_code == 200, sheet.text
    header, *rows = load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True)
    at = {
        name: header.index(f"缴费类别：{name}")
        for name in ("学生团员", "按收入缴纳", "未填写缴费信息")
    }
    assert [(row[0], *(row[i] for i in at.values())) for row in rows] == [
        ("合计", "2", "1", "2"),
        ("乙县委", "1", "0", "1"),  # by name
        ("甲县委", "1", "1", "1"),
    ]
