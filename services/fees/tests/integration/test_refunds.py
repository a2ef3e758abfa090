"""Money owed back: an online payment that paid nothing goes back to the member through the
provider, at the callback or, when the provider did not answer then, when the branch asks."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import text

from fees.provider import FakeProvider
from fees.service import refunds
from fees.settings import FeesSettings
from shared.process import build_resources

from .conftest import Tree
from .test_payments import a_bill, a_pending_online_payment, signed


async def owed_back(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    provider: FakeProvider,
    db,
    *,
    provider_answers: bool = False,
) -> tuple[uuid.UUID, str]:  # type: ignore[no-untyped-def]
    """A bill of branch_a paid in cash while its member's online payment was under way, then
    the provider's "paid" for that payment, told while the provider gives money back or not:
    the bill, and the payment owed back."""
    bill, online = await a_pending_online_payment(client, settings, tree, member_caller, db)
    cash = await client.post(
        f"/bills/{bill}/payments", json={"channel": "cash"}, headers=admin(tree.branch_a)
    )
    assert cash.status_code == 201, cash.text
    provider.mode = "succeed" if provider_answers else "fail"
    r = await client.post(
        "/payments/callback", **signed(settings, {"payment_id": online["id"], "status": "paid"})
    )
    assert r.status_code == 409 and r.json()["code"] == "fee.already_paid", r.text
    provider.mode = "succeed"  # from here on it answers
    return bill, online["id"]


async def test_money_for_a_bill_paid_in_cash_meanwhile_goes_back_to_the_member_at_once(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    bill, payment = await owed_back(
        client, settings, tree, admin, member_caller, provider, db, provider_answers=True
    )
    # Given back through the provider at the callback, the payment's id its refund's number.
    assert provider.refunded[uuid.UUID(payment)] == 1_500
    # A "failed" told late does not take back what was owed to the member.
    r = await client.post(
        "/payments/callback", **signed(settings, {"payment_id": payment, "status": "failed"})
    )
    assert r.status_code == 409 and r.json()["code"] == "fee.already_paid", r.text
    rows = await db(
        "SELECT channel, status, refund_ref IS NOT NULL AS referenced, refunded_by FROM payments "
        "WHERE bill_id = :b ORDER BY channel",
        b=bill,
    )
    assert [(p.channel, p.status, p.referenced, p.refunded_by) for p in rows] == [
        ("cash", "paid", False, None),
        ("online", "refunded", True, None),  # asked by no one: the system, at the callback
    ]
    [row] = await db("SELECT status, channel FROM bills WHERE id = :b", b=bill)
    assert (row.status, row.channel) == ("paid", "cash")  # paid once, by the cash
    # The member, seeing the bill paid in cash, sees where the online payment went.
    [member] = await db("SELECT member_id FROM bills WHERE id = :b", b=bill)
    mine = await client.get(f"/members/{member.member_id}/bills", headers=admin(tree.branch_a))
    [line] = [b for b in mine.json()["items"] if b["id"] == str(bill)]
    assert line["refunds"] == [{"amount_fen": 1_500, "status": "refunded"}]


async def test_money_the_provider_did_not_give_back_at_once_is_listed_until_the_branch_does(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    bill, payment = await owed_back(client, settings, tree, admin, member_caller, provider, db)
    assert uuid.UUID(payment) not in provider.refunded

    # The county sees what its branches owe back, with whom and why.
    listed = await client.get(f"/orgs/{tree.county_a}/refunds", headers=admin(tree.county_a))
    assert listed.status_code == 200, listed.text
    [owed] = [r for r in listed.json()["items"] if r["payment_id"] == payment]
    assert owed["bill_id"] == str(bill) and owed["branch_id"] == str(tree.branch_a)
    assert (owed["amount_fen"], owed["reason"], owed["status"]) == (
        1_500,
        "already_paid",
        "refund_due",
    )
    assert owed["member_name"] and owed["refunded_at"] is None
    # The other county neither sees it nor gives it back.
    other = await client.get(f"/orgs/{tree.county_b}/refunds", headers=admin(tree.county_b))
    assert payment not in {r["payment_id"] for r in other.json()["items"]}
    r = await client.post(f"/payments/{payment}/refund", headers=admin(tree.branch_b))
    assert r.status_code == 404 and r.json()["code"] == "fee.payment_not_found"

    # The provider still does not answer: told so, and the money stays owed.
    provider.mode = "fail"
    r = await client.post(f"/payments/{payment}/refund", headers=admin(tree.branch_a))
    assert r.status_code == 503 and r.json()["code"] == "fee.refund_unavailable", r.text
    assert r.headers["retry-after"]
    [row] = await db("SELECT status FROM payments WHERE id = :p", p=uuid.UUID(payment))
    assert row.status == "refund_due"

    # It answers again; two admins press the button at once: given back once.
    provider.mode = "succeed"
    answers = await asyncio.gather(
        client.post(f"/payments/{payment}/refund", headers=admin(tree.branch_a)),
        client.post(f"/payments/{payment}/refund", headers=admin(tree.county_a)),
    )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert {a.json()["status"] for a in answers} == {"refunded"}
    assert answers[0].json()["refund_reason"] == "already_paid"
    assert provider.refunded[uuid.UUID(payment)] == 1_500
    audited = await db(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'fee.refunded' AND target_id = :p",
        p=payment,
    )
    assert audited[0].n == 1
    [row] = await db(
        "SELECT status, refunded_at IS NOT NULL AS dated, refunded_by FROM payments WHERE id = :p",
        p=uuid.UUID(payment),
    )
    assert (row.status, row.dated) == ("refunded", True) and row.refunded_by is not None

    # Off the list of what is owed, on the list of what was given back.
    listed = await client.get(f"/orgs/{tree.county_a}/refunds", headers=admin(tree.county_a))
    assert payment not in {r["payment_id"] for r in listed.json()["items"]}
    given = await client.get(
        f"/orgs/{tree.branch_a}/refunds",
        params={"status": "refunded"},
        headers=admin(tree.branch_a),
    )
    [back] = [r for r in given.json()["items"] if r["payment_id"] == payment]
    assert back["status"] == "refunded" and back["refunded_at"]
    # The bill is paid once, by the cash, whatever happened to the online payment.
    [paid] = await db("SELECT status, channel FROM bills WHERE id = :b", b=bill)
    assert (paid.status, paid.channel) == ("paid", "cash")


async def test_refunds_waiting_on_a_provider_that_hangs_do_not_stop_payments(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    _, payment = await owed_back(client, settings, tree, admin, member_caller, provider, db)
    other, _ = await a_bill(settings, tree, db)
    released, all_waiting = asyncio.Event(), asyncio.Event()
    waiting: list[uuid.UUID] = []

    async def hang(payment_id: uuid.UUID) -> None:
        waiting.append(payment_id)
        if len(waiting) == settings.platform.db_pool_size:
            all_waiting.set()
        await released.wait()

    provider.before_refunding = hang
    # As many admins pressing 退款 as the process has database turns, the provider answering
    # none of them: the month start's cash payments go on meanwhile.
    asks = [
        asyncio.create_task(
            client.post(f"/payments/{payment}/refund", headers=admin(tree.branch_a))
        )
        for _ in range(settings.platform.db_pool_size)
    ]
    try:
        await asyncio.wait_for(all_waiting.wait(), timeout=30)
        cash = await asyncio.wait_for(
            client.post(
                f"/bills/{other}/payments", json={"channel": "cash"}, headers=admin(tree.branch_a)
            ),
            timeout=30,  # held back, it would wait for the provider: for ever
        )
        assert cash.status_code == 201, cash.text
    finally:
        released.set()
    answers = await asyncio.gather(*asks)
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["status"] for a in answers} == {"refunded"}


async def test_after_an_outage_every_refund_owed_is_given_back_in_one_go(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    owed = [
        (await owed_back(client, settings, tree, admin, member_caller, provider, db))[1]
        for _ in range(2)
    ]
    resources = build_resources(settings)
    try:
        # The provider is away: nothing given back, all counted as still owed.
        provider.mode = "fail"
        away = await refunds.give_back_all(resources.sessions, provider)
        assert away.given == 0 and away.still_owed >= 2
        # Back: the operator's `zhtj-fees give-back` gives every one back.
        provider.mode = "succeed"
        seen: list[refunds.GivenBack] = []
        back = await refunds.give_back_all(resources.sessions, provider, seen.append)
    finally:
        await resources.engine.dispose()
    assert back.given >= 2 and back.still_owed == 0
    assert seen and seen[-1] == back  # progress, ending with the whole
    rows = await db(
        "SELECT status FROM payments WHERE id = ANY(:ids)", ids=[uuid.UUID(p) for p in owed]
    )
    assert [r.status for r in rows] == ["refunded", "refunded"]
    assert all(provider.refunded[uuid.UUID(p)] == 1_500 for p in owed)


async def test_only_money_owed_back_is_given_back(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    bill, online = await a_pending_online_payment(client, settings, tree, member_caller, db)
    r = await client.post(f"/payments/{online['id']}/refund", headers=admin(tree.branch_a))
    assert r.status_code == 409 and r.json()["code"] == "fee.not_refund_due", r.text
    r = await client.post(
        "/payments/callback", **signed(settings, {"payment_id": online["id"], "status": "paid"})
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/payments/{online['id']}/refund", headers=admin(tree.branch_a))
    assert r.status_code == 409 and r.json()["code"] == "fee.not_refund_due", r.text
    r = await client.post(f"/payments/{uuid.uuid4()}/refund", headers=admin(tree.branch_a))
    assert r.status_code == 404 and r.json()["code"] == "fee.payment_not_found"
    assert uuid.UUID(online["id"]) not in provider.refunded
    [row] = await db("SELECT status FROM bills WHERE id = :b", b=bill)
    assert row.status == "paid"


async def test_the_list_of_refunds_pages_newest_first(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    owed = [
        (await owed_back(client, settings, tree, admin, member_caller, provider, db))[1]
        for _ in range(3)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.get(
            f"/orgs/{tree.branch_a}/refunds",
            params={"limit": 2} | ({"cursor": cursor} if cursor else {}),
            headers=admin(tree.branch_a),
        )
        assert page.status_code == 200, page.text
        seen += [r["payment_id"] for r in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert [p for p in seen if p in owed] == owed[::-1]


async def test_the_list_of_refunds_reads_only_the_payments_owed_or_given_back(
    settings: FeesSettings,
) -> None:
    """After a month start, payments are millions; those owed back a handful. The list reads
    the partial index of the two refund states, with any plan PostgreSQL may keep for it."""
    resources = build_resources(settings)
    try:
        async with resources.sessions() as session, session.begin():
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            explain = text("EXPLAIN (FORMAT JSON) " + refunds.LIST_REFUNDS.text)
            values = {
                "org": uuid.uuid4(),
                "status": "refund_due",
                "after_at": None,
                "after_id": None,
                "limit": 51,
            }
            plan = json.dumps((await session.execute(explain, values)).scalar_one())
    finally:
        await resources.engine.dispose()
    assert "payments_refunds" in plan, plan
