"""The month start: a cycle opened once, chunks of branches billed once each by the workers,
whatever is redelivered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from fees.commands import GENERATE_BILLS_QUEUE, GenerateBills
from fees.domain.months import label, next_month
from fees.service.cycles import follow_into_unbegun_months, generate_bills
from fees.settings import FeesSettings
from fees.worker import open_cycles_on_time, work
from shared.calendar import beijing_today
from shared.events import Envelope, MemberDeparted, MemberUpdated, parse_event
from shared.process import build_resources

from .conftest import Tree
from .test_payments import signed
from .test_profiles import deliver, new_members, transferred


async def run_worker_on(settings: FeesSettings, envelopes: list[Envelope]) -> None:
    """The worker's handler (inbox included) on each command, as the queue would deliver it."""
    resources = build_resources(settings)
    try:
        [queue] = work(resources)
        assert queue.queue == GENERATE_BILLS_QUEUE
        for envelope in envelopes:
            await queue.handlers[envelope.type](parse_event(envelope), envelope)
    finally:
        await resources.engine.dispose()


async def commands_of(db, month: str) -> list[Envelope]:  # type: ignore[no-untyped-def]
    rows = await db(
        "SELECT envelope FROM outbox WHERE type = :t AND envelope->'data'->>'month' LIKE :m",
        t=GenerateBills.type,
        m=f"{month}%",
    )
    return [
        Envelope.model_validate(
            r.envelope if isinstance(r.envelope, dict) else json.loads(r.envelope)
        )
        for r in rows
    ]


async def test_a_cycle_bills_every_member_with_a_profile_exactly_once(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    paying = await new_members(settings, tree.branch_a, 3) + await new_members(
        settings, tree.branch_b, 2
    )
    [without_profile] = await new_members(settings, tree.branch_a)
    for member, body in zip(
        paying,
        [
            {"category": "salaried", "monthly_income_fen": 300_000},
            {"category": "salaried", "monthly_income_fen": 800_000},
            {"category": "student"},
            {"category": "student"},
            {"category": "salaried", "monthly_income_fen": 2_000_000},
        ],
        strict=True,
    ):
        r = await client.put(f"/members/{member}/fee-profile", json=body, headers=admin(tree.root))
        assert r.status_code == 200, r.text
    # One of branch A's moves to branch B before the month: billed there, where it now belongs.
    moved = paying[0]
    await deliver(
        settings,
        transferred(moved, tree.branch_a, tree.branch_b),
    )
    month = label(next_month(beijing_today()))

    [stale] = await db("SELECT count(*) AS n FROM fee_profiles WHERE rate_table <> 'regulation'")
    opened = await client.post("/fee-cycles", json={"month": month}, headers=admin(tree.root))
    assert opened.status_code == 202, opened.text
    assert opened.json()["status"] == "generating" and opened.json()["chunks_total"] >= 1
    # Profiles another table priced (none unless a test moved some) are counted on the cycle.
    assert opened.json()["profiles_on_other_tables"] == stale.n
    again = await client.post("/fee-cycles", json={"month": month}, headers=admin(tree.root))
    assert again.status_code == 202
    commands = await commands_of(db, month)
    assert len(commands) == opened.json()["chunks_total"]  # asking twice opened nothing twice

    # Every command delivered twice (a worker killed after its commit, before its ack).
    await run_worker_on(settings, commands + commands)

    bills = await db(
        "SELECT member_id, branch_id, amount_fen FROM bills "
        "WHERE month = :m AND member_id = ANY(:ids)",
        m=next_month(beijing_today()),
        ids=[*paying, without_profile],
    )
    assert sorted(b.amount_fen for b in bills) == sorted([1_500, 12_000, 20, 20, 40_000])
    assert without_profile not in {b.member_id for b in bills}
    assert {b.branch_id for b in bills if b.member_id == moved} == {tree.branch_b}
    cycle = (await client.get(f"/fee-cycles/{month}", headers=admin(tree.root))).json()
    assert cycle["status"] == "done" and cycle["chunks_done"] == cycle["chunks_total"]
    assert cycle["finished_at"] is not None
    # The same progress for the operators' dashboards and alerts.
    scraped = (await client.get("/metrics")).text
    assert f'fee_cycle_finished{{month="{month}"}} 1.0' in scraped
    # The morning alert's gauge is this month's cycle, not the latest one opened (next month's).
    this_month = await db(
        "SELECT finished_at IS NOT NULL AS done FROM fee_cycles WHERE month = :m",
        m=beijing_today().replace(day=1),
    )
    expected = 1.0 if this_month and this_month[0].done else 0.0
    assert f"fee_current_cycle_finished {expected}" in scraped
    assert f'fee_cycle_bills{{month="{month}"}} {float(cycle["bills"])}' in scraped
    done = float(cycle["chunks_done"])
    assert f'fee_cycle_chunks{{month="{month}",state="done"}} {done}' in scraped
    # No relay runs here: the events wait, and the alert on their age would see them.
    unsent = (await db("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL"))[0].n
    assert unsent > 0 and f"outbox_backlog {float(unsent)}" in scraped
    oldest = next(ln for ln in scraped.splitlines() if ln.startswith("outbox_oldest_seconds "))
    assert float(oldest.split()[1]) > 0
    # fee.bills_generated: each branch's counts and totals, no bill of its own.
    rows = await db(
        "SELECT envelope FROM outbox WHERE type = 'fee.bills_generated' "
        "AND envelope->'data'->>'month' = :m",
        m=month,
    )
    branches = {
        b["branch_id"]: (b["bills"], b["due_fen"])
        for r in rows
        for b in (r.envelope if isinstance(r.envelope, dict) else json.loads(r.envelope))["data"][
            "branches"
        ]
    }
    assert branches[str(tree.branch_b)] == (3, 41_520)
    assert 1 <= len(rows) <= len(commands)  # one a chunk that billed anyone, not one a branch


async def test_only_the_provinces_admins_open_cycles(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    month = label(next_month(beijing_today()))
    r = await client.post("/fee-cycles", json={"month": month}, headers=admin(tree.city))
    assert r.status_code == 403 and r.json()["code"] == "auth.root_only"
    assert (await client.get(f"/fee-cycles/{month}", headers=admin(tree.city))).status_code == 403


async def test_months_it_cannot_open_say_why(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    too_far = label(next_month(next_month(beijing_today())))
    for month, code in (
        ("2027-13", "fee.month_invalid"),
        ("27-01", "fee.month_invalid"),
        (too_far, "fee.month_too_far"),
    ):
        r = await client.post("/fee-cycles", json={"month": month}, headers=admin(tree.root))
        assert r.status_code == 422 and r.json()["code"] == code, (month, r.text)
    r = await client.get("/fee-cycles/2020-02", headers=admin(tree.root))
    assert r.status_code == 404 and r.json()["code"] == "fee.cycle_not_found"
    assert (await client.get("/fee-cycles/2020-2", headers=admin(tree.root))).status_code == 422


async def test_a_branch_sees_its_dues_list_in_pages_with_who_lacks_a_profile(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable
) -> None:
    month = label(next_month(beijing_today()))
    # The cycle of the first test billed branch_b's two paying members.
    url = f"/orgs/{tree.branch_b}/bills"
    first = await client.get(url, params={"month": month, "limit": 1}, headers=admin(tree.county_b))
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert page["totals"]["count"] >= 2 and page["totals"]["paid_count"] == 0
    second = await client.get(
        url,
        params={"month": month, "limit": 1, "cursor": page["next_cursor"]},
        headers=admin(tree.county_b),
    )
    assert second.json()["items"][0]["member_id"] != page["items"][0]["member_id"]
    # branch_a has the member who never declared a profile.
    listed = await client.get(
        f"/orgs/{tree.branch_a}/bills", params={"month": month}, headers=admin(tree.branch_a)
    )
    assert listed.json()["missing_profile_count"] >= 1
    assert listed.json()["missing_profile_count"] == len(listed.json()["missing_profile"])
    other = await client.get(url, params={"month": month}, headers=admin(tree.county_a))
    assert other.status_code == 403
    bad = await client.get(url, params={"month": "2026-1"}, headers=admin(tree.county_b))
    assert bad.status_code == 422 and bad.json()["code"] == "fee.month_invalid"


async def test_the_workers_open_this_months_cycle_by_themselves_once(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    this_month = beijing_today().replace(day=1)

    async def run_duty() -> None:
        resources = build_resources(settings)
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        try:
            await open_cycles_on_time(resources, stop)
        finally:
            await resources.engine.dispose()

    await asyncio.gather(run_duty(), run_duty())  # two workers at once
    r = await client.get(f"/fee-cycles/{label(this_month)}", headers=admin(tree.root))
    assert r.status_code == 200, r.text
    commands = await commands_of(db, label(this_month))
    assert len(commands) == r.json()["chunks_total"]  # opened once, not twice


async def test_a_member_moved_while_the_chunks_run_is_billed_once(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    """A cycle whose chunk of branch B has run and whose chunk of branch A has not: a member
    moved from A to B would be billed by neither chunk, one moved from B to A by A's."""
    month = date(2022, 1, 1)  # a month of its own: its cycle is made here, chunk by chunk
    [to_b] = await new_members(settings, tree.branch_a)
    [to_a] = await new_members(settings, tree.branch_b)
    for member in (to_b, to_a):
        r = await client.put(
            f"/members/{member}/fee-profile", json={"category": "student"}, headers=admin(tree.root)
        )
        assert r.status_code == 200, r.text
    await db(
        "UPDATE fee_members SET copied_at = '2021-12-01' WHERE member_id = ANY(:ids)",
        ids=[to_b, to_a],
    )
    await db("INSERT INTO fee_cycles (month, chunks_total, chunks_done) VALUES (:m, 2, 1)", m=month)
    await db(
        "INSERT INTO fee_cycle_chunks (month, chunk_no, branch_ids, done_at) VALUES "
        "(:m, 1, ARRAY[CAST(:b AS uuid)], now()), (:m, 2, ARRAY[CAST(:a AS uuid)], NULL)",
        m=month,
        a=tree.branch_a,
        b=tree.branch_b,
    )
    for member, old, new in (
        (to_b, tree.branch_a, tree.branch_b),
        (to_a, tree.branch_b, tree.branch_a),
    ):
        await deliver(
            settings,
            transferred(member, old, new),
        )

    def bills_of() -> Awaitable[list[Any]]:
        return db(
            "SELECT member_id, branch_id FROM bills WHERE month = :m ORDER BY member_id", m=month
        )

    # The one B's chunk (done) would miss is billed with the transfer; A's waits for its chunk.
    assert [(b.member_id, b.branch_id) for b in await bills_of()] == [(to_b, tree.branch_b)]
    [progress] = await db("SELECT bills FROM fee_cycles WHERE month = :m", m=month)
    assert progress.bills == 1  # the cycle's count of bills so far includes it
    resources = build_resources(settings)
    try:
        async with resources.sessions() as session, session.begin():
            await generate_bills(session, month, 2)
    finally:
        await resources.engine.dispose()
    assert sorted((b.member_id, b.branch_id) for b in await bills_of()) == sorted(
        [(to_b, tree.branch_b), (to_a, tree.branch_a)]
    )


async def test_a_bill_of_a_month_opened_early_follows_its_member_until_the_month_begins(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    """Next month's cycle opened early (by the first test of this module) wrote its bills from
    the members as they were. Until the month begins, a new profile makes a bill, a changed one
    prices it, a transfer takes it to the new branch, a departure takes it away; this month's
    bill stays with the branch that had the member when the month began."""
    this_month, month = beijing_today().replace(day=1), next_month(beijing_today())
    [cycle] = await db("SELECT bills FROM fee_cycles WHERE month = :m", m=month)
    [member] = await new_members(settings, tree.branch_a)
    await db(
        "INSERT INTO bills (member_id, branch_id, month, amount_fen) VALUES (:m, :b, :t, 20)",
        m=member,
        b=tree.branch_a,
        t=this_month,
    )

    async def bills() -> dict[date, tuple[Any, int, str]]:
        rows = await db(
            "SELECT month, branch_id, amount_fen, status FROM bills WHERE member_id = :m", m=member
        )
        return {r.month: (r.branch_id, r.amount_fen, r.status) for r in rows}

    async def counted() -> int:
        [now] = await db("SELECT bills FROM fee_cycles WHERE month = :m", m=month)
        return int(now.bills - cycle.bills)

    async def declare(body: dict[str, object]) -> None:
        r = await client.put(f"/members/{member}/fee-profile", json=body, headers=admin(tree.root))
        assert r.status_code == 200, r.text

    await declare({"category": "student"})
    assert (await bills())[month] == (tree.branch_a, 20, "due") and await counted() == 1
    await declare({"category": "salaried", "monthly_income_fen": 600_000})  # 1.5%
    assert (await bills())[month] == (tree.branch_a, 9_000, "due")

    await deliver(
        settings,
        transferred(member, tree.branch_a, tree.branch_b),
    )
    assert await bills() == {
        this_month: (tree.branch_a, 20, "due"),  # the month began in branch A
        month: (tree.branch_b, 9_000, "due"),
    }

    await deliver(
        settings,
        MemberDeparted(member_id=member, branch_id=tree.branch_b, reason="over_age", on=this_month),
    )
    assert await bills() == {this_month: (tree.branch_a, 20, "due")}
    assert await counted() == 0  # the cycle's count follows the bills it has


async def an_early_bill(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    """A new member of branch_a declared a student: their 20-fen bill of next month, whose
    cycle the first test of this module opened early."""
    [member] = await new_members(settings, tree.branch_a)
    r = await client.put(
        f"/members/{member}/fee-profile", json={"category": "student"}, headers=admin(tree.root)
    )
    assert r.status_code == 200, r.text
    [bill] = await db(
        "SELECT id FROM bills WHERE member_id = :m AND month = :t",
        m=member,
        t=next_month(beijing_today()),
    )
    return member, bill.id


async def test_an_early_bill_being_paid_online_keeps_the_money_whole_through_changes(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    db,
) -> None:
    """The member starts paying next month's 20 fen online, then declares a salary: the bill is
    repriced, so the provider's "paid" for 20 fen is owed back rather than paying a 9,000-fen
    bill. A departure then leaves the bill to its payment, which may still be taken."""
    member, bill = await an_early_bill(client, settings, tree, admin, db)
    started = await client.post(
        f"/bills/{bill}/payments",
        json={"channel": "online"},
        headers=member_caller(tree.branch_a, member),
    )
    assert started.status_code == 201 and started.json()["amount_fen"] == 20, started.text
    r = await client.put(
        f"/members/{member}/fee-profile",
        json={"category": "salaried", "monthly_income_fen": 600_000},
        headers=admin(tree.root),
    )
    assert r.status_code == 200, r.text
    told = {"payment_id": started.json()["id"], "status": "paid"}
    r = await client.post("/payments/callback", **signed(settings, told))
    assert r.status_code == 409 and r.json()["code"] == "fee.amount_changed", r.text
    # Told again, even with the bill priced back, or told "failed" late: the first answer, and
    # the money stays owed back.
    r = await client.put(
        f"/members/{member}/fee-profile", json={"category": "student"}, headers=admin(tree.root)
    )
    assert r.status_code == 200, r.text
    for again in (told, {**told, "status": "failed"}):
        r = await client.post("/payments/callback", **signed(settings, again))
        assert r.status_code == 409 and r.json()["code"] == "fee.amount_changed", r.text
    r = await client.put(
        f"/members/{member}/fee-profile",
        json={"category": "salaried", "monthly_income_fen": 600_000},
        headers=admin(tree.root),
    )
    assert r.status_code == 200, r.text
    [row] = await db(
        "SELECT b.status, b.amount_fen, p.status AS payment FROM bills b "
        "JOIN payments p ON p.bill_id = b.id WHERE b.id = :b",
        b=bill,
    )
    # The 20 fen went back to the member at the callback (the stand-in provider answers).
    assert (row.status, row.amount_fen, row.payment) == ("due", 9_000, "refunded")
    # The member begins paying the 9,000 fen, and leaves before the provider answers: the bill
    # is void (its payment may still be taken), gone from the branch's list and the member's.
    again = await client.post(
        f"/bills/{bill}/payments",
        json={"channel": "online"},
        headers=member_caller(tree.branch_a, member),
    )
    assert again.status_code == 201 and again.json()["amount_fen"] == 9_000, again.text
    await deliver(
        settings,
        MemberDeparted(
            member_id=member, branch_id=tree.branch_a, reason="over_age", on=beijing_today()
        ),
    )
    [copied] = await db("SELECT status FROM fee_members WHERE member_id = :m", m=member)
    assert copied.status == "left"  # the departure went through, not to the dead letters
    [voided] = await db("SELECT status FROM bills WHERE id = :b", b=bill)
    assert voided.status == "void"
    month = label(next_month(beijing_today()))
    listed = await client.get(
        f"/orgs/{tree.branch_a}/bills", params={"month": month}, headers=admin(tree.branch_a)
    )
    assert str(bill) not in {b["id"] for b in listed.json()["items"]}
    mine = await client.get(f"/members/{member}/bills", headers=admin(tree.branch_a))
    assert str(bill) not in {b["id"] for b in mine.json()["items"]}
    # The provider took it after all: owed back, the bill stays void.
    paid = {"payment_id": again.json()["id"], "status": "paid"}
    r = await client.post("/payments/callback", **signed(settings, paid))
    assert r.status_code == 409 and r.json()["code"] == "fee.bill_void", r.text
    payments_of = await db(
        "SELECT amount_fen, status, refund_reason FROM payments WHERE bill_id = :b ORDER BY 1",
        b=bill,
    )
    assert [(p.amount_fen, p.status, p.refund_reason) for p in payments_of] == [
        (20, "refunded", "amount_changed"),
        (9_000, "refunded", "bill_void"),
    ]


async def test_a_void_bill_comes_back_due_when_its_member_is_billable_again(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    db,
) -> None:
    member, bill = await an_early_bill(client, settings, tree, admin, db)
    month = next_month(beijing_today())
    [before] = await db("SELECT bills FROM fee_cycles WHERE month = :m", m=month)
    started = await client.post(
        f"/bills/{bill}/payments",
        json={"channel": "online"},
        headers=member_caller(tree.branch_a, member),
    )
    assert started.status_code == 201, started.text

    async def status_and_count() -> tuple[str, int]:
        [row] = await db("SELECT status FROM bills WHERE id = :b", b=bill)
        [cycle] = await db("SELECT bills FROM fee_cycles WHERE month = :m", m=month)
        return row.status, int(cycle.bills - before.bills)

    def status_now(status: str) -> MemberUpdated:
        return MemberUpdated(
            member_id=member,
            branch_id=tree.branch_a,
            changed_fields=["status"],
            values={"status": status},
        )

    await deliver(settings, status_now("inactive"))
    assert await status_and_count() == ("void", -1)
    await deliver(settings, status_now("active"))
    assert await status_and_count() == ("due", 0)


@pytest.mark.parametrize("change", ["transfer", "departure"])
async def test_cash_recorded_while_a_transfer_or_departure_takes_the_early_bill(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db, change
) -> None:
    """Branch A's admin records cash for the bill while the member's transfer to branch B (or
    departure) is being applied: once that commits, the bill is not branch A's to record, and
    the answer says so (404) instead of paying branch B's bill or calling a deleted bill paid."""
    member, bill = await an_early_bill(client, settings, tree, admin, db)
    resources = build_resources(settings)
    try:
        async with resources.sessions() as session, session.begin():
            change_sql = (
                "UPDATE fee_members SET branch_id = :b WHERE member_id = :m"
                if change == "transfer"
                else "UPDATE fee_members SET status = 'left', branch_id = :b WHERE member_id = :m"
            )
            await session.execute(text(change_sql), {"b": tree.branch_b, "m": member})
            await follow_into_unbegun_months(session, [member], beijing_today())
            paying = asyncio.create_task(
                client.post(
                    f"/bills/{bill}/payments",
                    json={"channel": "cash"},
                    headers=admin(tree.branch_a),
                )
            )
            await asyncio.sleep(0.5)
            assert not paying.done()  # waiting for the bill's row lock
        answer = await paying
    finally:
        await resources.engine.dispose()
    assert answer.status_code == 404 and answer.json()["code"] == "fee.bill_not_found"
    assert not await db("SELECT 1 FROM payments WHERE bill_id = :b", b=bill)
    left = await db("SELECT status, branch_id FROM bills WHERE id = :b", b=bill)
    assert [(r.status, r.branch_id) for r in left] == (
        [("due", tree.branch_b)] if change == "transfer" else []
    )
