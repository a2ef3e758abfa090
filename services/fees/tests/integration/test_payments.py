"""Paying a bill: cash recorded once by the branch, whatever races or repeats."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import date

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from fees.provider import SIGNATURE_HEADER, FakeProvider, callback_signature
from fees.service import payments
from fees.service.payments import MEMBER_BILLS
from fees.settings import FeesSettings
from shared.crypto import derive_key
from shared.db import asyncpg_dsn
from shared.events import Envelope, FeePaid, parse_event
from shared.outbox import NOTIFY_CHANNEL, RelayWakeups
from shared.process import build_resources

from .conftest import Tree
from .test_profiles import new_members


async def a_bill(
    settings: FeesSettings, tree: Tree, db, amount_fen: int = 1_500
) -> tuple[uuid.UUID, uuid.UUID]:  # type: ignore[no-untyped-def]
    """A due bill of a new member of branch_a (of a past month no cycle here opens)."""
    [member] = await new_members(settings, tree.branch_a)
    [row] = await db(
        "INSERT INTO bills (member_id, branch_id, month, amount_fen) "
        "VALUES (:m, :b, :month, :amount) RETURNING id",
        m=member,
        b=tree.branch_a,
        month=date(2025, 3, 1),
        amount=amount_fen,
    )
    return row.id, member


async def test_the_branch_records_cash_once_and_tells_by_an_event(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    bill, member = await a_bill(settings, tree, db)
    url = f"/bills/{bill}/payments"
    paid = await client.post(url, json={"channel": "cash"}, headers=admin(tree.county_a))
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount_fen"] == 1_500 and paid.json()["channel"] == "cash"
    again = await client.post(url, json={"channel": "cash"}, headers=admin(tree.county_a))
    assert again.status_code == 409 and again.json()["code"] == "fee.already_paid"

    [event] = await db(
        "SELECT envelope, jsonb_typeof(envelope) AS kind FROM outbox "
        "WHERE type = 'fee.paid' AND envelope->'data'->>'bill_id' = :b",
        b=str(bill),
    )
    assert event.kind == "object"  # a document the relay publishes as it is, not a string
    envelope = Envelope.model_validate(
        event.envelope if isinstance(event.envelope, dict) else json.loads(event.envelope)
    )
    # The statement writes the event's data from the bill: it is the contract's, field for field.
    assert parse_event(envelope) == FeePaid(
        bill_id=bill,
        payment_id=paid.json()["id"],
        member_id=member,
        branch_id=tree.branch_a,
        month="2025-03",
        amount_fen=1_500,
        channel="cash",
    )
    assert envelope.producer == "fees"
    [payment] = await db(
        "SELECT trace_context->>'traceparent' AS traceparent FROM payments WHERE bill_id = :b",
        b=bill,
    )
    assert payment.traceparent  # the request's trace, for the remittance to link to
    [audited] = await db(
        "SELECT actor_role FROM audit_log WHERE action = 'fee.cash_recorded' AND target_id = :b",
        b=str(bill),
    )
    assert audited.actor_role == "admin"  # who recorded the cash, once

    mine = await client.get(f"/members/{member}/bills", headers=admin(tree.branch_a))
    [line] = mine.json()["items"]
    assert (line["month"], line["status"], line["channel"]) == ("2025-03", "paid", "cash")


async def test_a_members_bills_page_reads_one_index_without_sorting(
    settings: FeesSettings,
) -> None:
    """The page every member opens: its plan walks the (member_id, month) index backwards,
    newest first: no sort (ordering by the `month` label rather than the column sorted every
    page)."""
    resources = build_resources(settings)
    try:
        async with resources.sessions() as session, session.begin():
            # As on a table of millions, where reading the index in order is what pays.
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            await session.execute(text("SET LOCAL enable_bitmapscan = off"))
            explain = text("EXPLAIN (FORMAT JSON) " + MEMBER_BILLS.text)
            values = {"m": uuid.uuid4(), "before": None, "limit": 21}
            plan = json.dumps((await session.execute(explain, values)).scalar_one())
    finally:
        await resources.engine.dispose()
    assert "bills_member_id_month_key" in plan and '"Backward"' in plan, plan
    assert '"Sort"' not in plan, plan


async def test_twenty_simultaneous_payments_of_one_bill_make_one(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    bill, _ = await a_bill(settings, tree, db)
    answers = await asyncio.gather(
        *(
            client.post(
                f"/bills/{bill}/payments", json={"channel": "cash"}, headers=admin(tree.county_a)
            )
            for _ in range(20)
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 19
    assert len(await db("SELECT 1 FROM payments WHERE bill_id = :b", b=bill)) == 1


async def heard_wakeups(settings: FeesSettings, pay: Callable) -> list[str]:
    """The relay's notifications sent while `pay()` runs (and just after)."""
    listener = await asyncpg.connect(asyncpg_dsn(settings.resolved_database_url()))
    heard: list[str] = []
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.append(args[2]))
    try:
        await pay()
        await asyncio.sleep(0.3)
    finally:
        await listener.close()
    return heard


@pytest.mark.parametrize("at_once", [False, True], ids=["one-by-one", "at-once"])
async def test_a_burst_of_payments_wakes_the_relay_once_and_writes_every_event(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    db,
    monkeypatch: pytest.MonkeyPatch,
    at_once: bool,
) -> None:
    # The month start: a notification each cost the database and the relay more than the
    # event; within the window the relay's round (or, in a peak, its own next one) takes them.
    # Payments in flight together must not all notify either: notifying commits take turns on
    # PostgreSQL's notification lock through their WAL flush, so one slow flush held up all.
    monkeypatch.setattr(payments, "_RELAY_WAKEUPS", RelayWakeups(window_seconds=60))
    bills = [(await a_bill(settings, tree, db))[0] for _ in range(8)]

    async def pay(bill: uuid.UUID) -> httpx.Response:
        return await client.post(
            f"/bills/{bill}/payments", json={"channel": "cash"}, headers=admin(tree.county_a)
        )

    async def pay_all() -> None:
        if at_once:
            answers = await asyncio.gather(*(pay(bill) for bill in bills))
        else:
            answers = [await pay(bill) for bill in bills]
        assert [a.status_code for a in answers] == [201] * len(bills)

    assert len(await heard_wakeups(settings, pay_all)) == 1
    written = await db(
        "SELECT envelope->'data'->>'bill_id' AS bill FROM outbox WHERE type = 'fee.paid' "
        "AND envelope->'data'->>'bill_id' = ANY(:bills)",
        bills=[str(b) for b in bills],
    )
    assert sorted(r.bill for r in written) == sorted(str(b) for b in bills)


async def test_a_refused_payment_leaves_the_wakeup_to_the_next_one(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    db,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A payment told to notify that writes nothing (its bill is paid already) notifies no one:
    # the next payment must, not wait for the relay's poll.
    paid, _ = await a_bill(settings, tree, db)
    due, _ = await a_bill(settings, tree, db)
    first = await client.post(
        f"/bills/{paid}/payments", json={"channel": "cash"}, headers=admin(tree.county_a)
    )
    assert first.status_code == 201, first.text
    monkeypatch.setattr(payments, "_RELAY_WAKEUPS", RelayWakeups(window_seconds=60))

    async def refused_then_paid() -> None:
        again = await client.post(
            f"/bills/{paid}/payments", json={"channel": "cash"}, headers=admin(tree.county_a)
        )
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "fee.already_paid"
        then = await client.post(
            f"/bills/{due}/payments", json={"channel": "cash"}, headers=admin(tree.county_a)
        )
        assert then.status_code == 201, then.text

    assert len(await heard_wakeups(settings, refused_then_paid)) == 1


async def test_a_bill_that_already_has_a_paid_payment_is_not_paid_again(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    """Should the bill's status ever lag behind its payments, the unique index on paid payments
    still refuses a second one: 409, and nothing of the second is written."""
    bill, _ = await a_bill(settings, tree, db)
    await db(
        "INSERT INTO payments (id, bill_id, amount_fen, channel, status, paid_at) "
        "VALUES (gen_random_uuid(), :b, 1500, 'online', 'paid', now())",
        b=bill,
    )
    for headers in (admin(tree.county_a), admin(tree.county_a) | {"Idempotency-Key": "k-1"}):
        r = await client.post(f"/bills/{bill}/payments", json={"channel": "cash"}, headers=headers)
        assert r.status_code == 409 and r.json()["code"] == "fee.already_paid", r.text
    assert len(await db("SELECT 1 FROM payments WHERE bill_id = :b", b=bill)) == 1
    assert not await db(
        "SELECT 1 FROM outbox WHERE type = 'fee.paid' AND envelope->'data'->>'bill_id' = :b",
        b=str(bill),
    )


async def test_a_repeat_with_the_same_key_gets_the_first_answer(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    bill, _ = await a_bill(settings, tree, db)
    headers = admin(tree.county_a) | {"Idempotency-Key": f"cash-{bill}"}
    first = await client.post(f"/bills/{bill}/payments", json={"channel": "cash"}, headers=headers)
    repeat = await client.post(f"/bills/{bill}/payments", json={"channel": "cash"}, headers=headers)
    assert first.status_code == repeat.status_code == 201
    assert first.json() == repeat.json()
    assert len(await db("SELECT 1 FROM payments WHERE bill_id = :b", b=bill)) == 1


async def test_members_pay_online_not_in_cash_and_strangers_see_no_bill(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    db,
) -> None:
    bill, member = await a_bill(settings, tree, db)
    url = f"/bills/{bill}/payments"
    own = member_caller(tree.branch_a, member)
    r = await client.post(url, json={"channel": "cash"}, headers=own)
    assert r.status_code == 403 and r.json()["code"] == "fee.cash_by_branch_only"
    r = await client.post(url, json={"channel": "online"}, headers=admin(tree.county_a))
    assert r.status_code == 403 and r.json()["code"] == "fee.online_by_member_only"
    r = await client.post(url, json={"channel": "cash"}, headers=admin(tree.county_b))
    assert r.status_code == 404 and r.json()["code"] == "fee.bill_not_found"
    r = await client.post(
        f"/bills/{uuid.uuid4()}/payments", json={"channel": "cash"}, headers=admin(tree.root)
    )
    assert r.status_code == 404
    assert not await db("SELECT 1 FROM payments WHERE bill_id = :b", b=bill)


def signed(settings: FeesSettings, body: dict[str, str]) -> dict[str, object]:
    """A callback as the provider sends it: the raw body and its signature."""
    raw = json.dumps(body).encode()
    key = derive_key(settings.platform.internal_secret, "fees/provider-callbacks")
    return {
        "content": raw,
        "headers": {
            SIGNATURE_HEADER: callback_signature(key, raw),
            "Content-Type": "application/json",
        },
    }


async def a_pending_online_payment(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, member_caller: Callable, db
) -> tuple[uuid.UUID, dict]:  # type: ignore[no-untyped-def]
    """A due bill of a new member of branch_a, and the online payment the member started."""
    bill, member = await a_bill(settings, tree, db)
    started = await client.post(
        f"/bills/{bill}/payments",
        json={"channel": "online"},
        headers=member_caller(tree.branch_a, member),
    )
    assert started.status_code == 201, started.text
    return bill, started.json()


async def test_a_member_pays_online_and_the_providers_callback_settles_it_once(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    bill, payment = await a_pending_online_payment(client, settings, tree, member_caller, db)
    assert payment["status"] == "pending" and payment["paid_at"] is None
    assert uuid.UUID(payment["id"]) in provider.created

    callback = {"payment_id": payment["id"], "status": "paid"}
    for _ in range(2):  # the provider calls back twice
        r = await client.post("/payments/callback", **signed(settings, callback))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid"
    [row] = await db("SELECT status, channel FROM bills WHERE id = :b", b=bill)
    assert (row.status, row.channel) == ("paid", "online")
    events = await db(
        "SELECT 1 FROM outbox WHERE type = 'fee.paid' AND envelope->'data'->>'bill_id' = :b",
        b=str(bill),
    )
    assert len(events) == 1


async def test_callbacks_arriving_together_wake_the_relay_once(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    member_caller: Callable,
    db,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Most of a month start's payments are online: their callbacks must not all notify and
    # commit one by one behind the notification lock, any more than cash payments.
    started = [
        await a_pending_online_payment(client, settings, tree, member_caller, db) for _ in range(6)
    ]
    monkeypatch.setattr(payments, "_RELAY_WAKEUPS", RelayWakeups(window_seconds=60))

    async def called_back() -> None:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/payments/callback",
                    **signed(settings, {"payment_id": payment["id"], "status": "paid"}),
                )
                for _, payment in started
            )
        )
        assert [a.json()["status"] for a in answers] == ["paid"] * len(started)

    assert len(await heard_wakeups(settings, called_back)) == 1
    written = await db(
        "SELECT count(*) AS n FROM outbox WHERE type = 'fee.paid' "
        "AND envelope->'data'->>'bill_id' = ANY(:bills)",
        bills=[str(bill) for bill, _ in started],
    )
    assert written[0].n == len(started)


async def test_callbacks_that_are_not_the_providers_change_nothing(
    client: httpx.AsyncClient, settings: FeesSettings
) -> None:
    body = {"payment_id": str(uuid.uuid4()), "status": "paid"}
    forged = signed(settings, body) | {"headers": {SIGNATURE_HEADER: "0" * 64}}
    r = await client.post("/payments/callback", **forged)
    assert r.status_code == 401 and r.json()["code"] == "fee.bad_signature"
    # A signature of letters outside ASCII (Starlette reads header bytes as latin-1).
    odd = signed(settings, body) | {"headers": [(SIGNATURE_HEADER.encode(), "签名".encode())]}
    r = await client.post("/payments/callback", **odd)
    assert r.status_code == 401 and r.json()["code"] == "fee.bad_signature"
    r = await client.post("/payments/callback", **signed(settings, body))
    assert r.status_code == 404 and r.json()["code"] == "fee.payment_not_found"


async def test_a_provider_that_fails_or_times_out_charges_nothing(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    bill, member = await a_bill(settings, tree, db)
    own = member_caller(tree.branch_a, member)
    for mode in ("fail", "time_out"):
        provider.mode = mode  # type: ignore[assignment]
        r = await client.post(f"/bills/{bill}/payments", json={"channel": "online"}, headers=own)
        assert r.status_code == 503 and r.json()["code"] == "fee.provider_unavailable"
        assert r.headers["retry-after"]
    statuses = await db("SELECT status FROM payments WHERE bill_id = :b", b=bill)
    assert [p.status for p in statuses] == ["failed", "failed"]
    provider.mode = "succeed"
    r = await client.post(f"/bills/{bill}/payments", json={"channel": "online"}, headers=own)
    assert r.status_code == 201
    [row] = await db("SELECT status FROM bills WHERE id = :b", b=bill)
    assert row.status == "due"  # until the provider calls back


async def test_a_payment_the_provider_never_took_is_tried_again_under_its_key(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    bill, member = await a_bill(settings, tree, db)
    url = f"/bills/{bill}/payments"
    own = member_caller(tree.branch_a, member) | {"Idempotency-Key": f"online-{bill}"}
    provider.mode = "fail"
    refused = await client.post(url, json={"channel": "online"}, headers=own)
    assert refused.status_code == 503 and refused.json()["code"] == "fee.provider_unavailable"
    # The member (or the app, told to retry) tries again with the same key: a new payment the
    # provider takes, not a replay of one that never happened.
    provider.mode = "succeed"
    retried = await client.post(url, json={"channel": "online"}, headers=own)
    assert retried.status_code == 201 and retried.json()["status"] == "pending", retried.text
    assert uuid.UUID(retried.json()["id"]) in provider.created
    # From here the key replays the payment the provider has.
    again = await client.post(url, json={"channel": "online"}, headers=own)
    assert again.status_code == 201 and again.json() == retried.json()
    rows = await db("SELECT status FROM payments WHERE bill_id = :b ORDER BY created_at", b=bill)
    assert [p.status for p in rows] == ["failed", "pending"]


async def test_money_the_provider_took_after_all_pays_the_bill(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    member_caller: Callable,
    provider: FakeProvider,
    db,
) -> None:
    """A time-out does not say nothing was taken: a late "paid" callback pays the bill, and a
    callback that comes before the provider's own answer is not answered "nothing charged"."""
    late, member = await a_bill(settings, tree, db)
    own = member_caller(tree.branch_a, member)
    provider.mode = "time_out"
    r = await client.post(f"/bills/{late}/payments", json={"channel": "online"}, headers=own)
    assert r.status_code == 503
    [payment] = await db("SELECT id, status FROM payments WHERE bill_id = :b", b=late)
    assert payment.status == "failed"
    told = {"payment_id": str(payment.id), "status": "paid"}
    r = await client.post("/payments/callback", **signed(settings, told))
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text
    # A replayed "failed" for it changes nothing now.
    failed = {"payment_id": str(payment.id), "status": "failed"}
    r = await client.post("/payments/callback", **signed(settings, failed))
    assert r.status_code == 200 and r.json()["status"] == "paid"
    [row] = await db("SELECT status, channel FROM bills WHERE id = :b", b=late)
    assert (row.status, row.channel) == ("paid", "online")
    events = await db(
        "SELECT 1 FROM outbox WHERE type = 'fee.paid' AND envelope->'data'->>'bill_id' = :b",
        b=str(late),
    )
    assert len(events) == 1

    early, member = await a_bill(settings, tree, db)

    async def calls_back_first(payment_id: uuid.UUID) -> None:
        told = {"payment_id": str(payment_id), "status": "paid"}
        r = await client.post("/payments/callback", **signed(settings, told))
        assert r.status_code == 200, r.text

    provider.before_answering = calls_back_first
    r = await client.post(
        f"/bills/{early}/payments",
        json={"channel": "online"},
        headers=member_caller(tree.branch_a, member),
    )
    assert r.status_code == 201 and r.json()["status"] == "paid", r.text
    [row] = await db("SELECT status FROM bills WHERE id = :b", b=early)
    assert row.status == "paid"
