"""The remittance chain: branch → county → city → province → outside, each keeping its share,
only received money going on, and every fen accounted for at every step."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import httpx
from openpyxl import load_workbook

from fees.service.holdings import tell_newly_overdue
from fees.service.remittances import Conservation, conservation
from fees.service.walk import remittance_tree, walk_lines
from fees.settings import FeesSettings
from shared.calendar import beijing_today, default_calendar
from shared.process import build_resources, resources_of
from shared.testing import caller_headers

from .conftest import Tree
from .test_profiles import new_members


async def paid_bills(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    db,  # type: ignore[no-untyped-def]
    admin: Callable,
    branch: uuid.UUID,
    month: date,
    amounts: list[int],
) -> None:
    """Bills of new members of `branch`, paid in cash through the API."""
    members = await new_members(settings, branch, len(amounts))
    for member, amount in zip(members, amounts, strict=True):
        [bill] = await db(
            "INSERT INTO bills (member_id, branch_id, month, amount_fen) "
            "VALUES (:m, :b, :month, :a) RETURNING id",
            m=member,
            b=branch,
            month=month,
            a=amount,
        )
        r = await client.post(
            f"/bills/{bill.id}/payments", json={"channel": "cash"}, headers=admin(branch)
        )
        assert r.status_code == 201, r.text


async def conservation_of(settings: FeesSettings, month: date) -> Conservation:
    resources = build_resources(settings)
    try:
        async with resources.sessions() as session:
            return await conservation(session, month)
    finally:
        await resources.engine.dispose()


async def conserved(settings: FeesSettings, month: date) -> tuple[bool, int]:
    """Whether the month's money is all accounted for, and how much is still held."""
    found = await conservation_of(settings, month)
    return found.holds, found.held_fen


async def test_dues_go_up_the_tree_and_every_fen_is_accounted_for(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    month = date(2024, 6, 1)
    await paid_bills(client, settings, db, admin, tree.branch_a, month, [1_000, 2_001])
    await paid_bills(client, settings, db, admin, tree.branch_b, month, [777])
    assert await conserved(settings, month) == (True, 3_778)  # all still at the branches

    def remit(org: uuid.UUID) -> object:
        return client.post(
            f"/orgs/{org}/remittances", json={"month": "2024-06"}, headers=admin(org)
        )

    sent = await remit(tree.branch_a)
    assert sent.status_code == 201, sent.text
    r = sent.json()
    assert (r["held_fen"], r["retained_fen"], r["amount_fen"]) == (3_001, 1_500, 1_501)
    assert r["to_org_id"] == str(tree.county_a) and r["status"] == "sent"
    # Named at both ends: the branch's admin may not read its county, but sees whom it paid.
    assert (r["from_org_name"], r["to_org_name"]) == ("甲团支部", "甲县委")
    assert r["due_working_days"] == 5  # a branch's: 5个工作日内
    assert r["trace_id"]
    # Five working days after the branch received the money (paid in cash today).
    assert r["due_by"] == default_calendar().add_working_days(beijing_today(), 5).isoformat()
    assert await conserved(settings, month) == (True, 777 + 1_501)
    again = await remit(tree.branch_a)
    assert again.status_code == 409 and again.json()["code"] == "fee.nothing_to_remit"

    # The county has not confirmed the money: nothing goes on yet.
    early = await remit(tree.county_a)
    assert early.status_code == 409 and early.json()["code"] == "fee.unreceived_child_remittance"
    stranger = await client.post(f"/remittances/{r['id']}/receipt", headers=admin(tree.county_b))
    assert stranger.status_code == 404
    received = await client.post(f"/remittances/{r['id']}/receipt", headers=admin(tree.county_a))
    assert received.status_code == 200 and received.json()["status"] == "received"
    twice = await client.post(f"/remittances/{r['id']}/receipt", headers=admin(tree.county_a))
    assert twice.status_code == 409 and twice.json()["code"] == "fee.already_received"

    # County (keeps 20%), city, province: each confirms, then sends on.
    expected = {
        tree.county_a: (1_501, 300, 1_201),
        tree.city: (1_201, 240, 961),
        tree.root: (961, 192, 769),
    }
    for org in (tree.county_a, tree.city, tree.root):
        up = await remit(org)
        assert up.status_code == 201, up.text
        body = up.json()
        assert (body["held_fen"], body["retained_fen"], body["amount_fen"]) == expected[org]
        holds, _ = await conserved(settings, month)
        assert holds
        if org != tree.root:
            parent_admin = admin(tree.city if org == tree.county_a else tree.root)
            ok = await client.post(f"/remittances/{body['id']}/receipt", headers=parent_admin)
            assert ok.status_code == 200
    assert body["status"] == "passed_on" and body["to_org_id"] is None
    # Everything left is branch_b's, not yet remitted: 1,500 + 300 + 240 + 192 kept, 769 out.
    assert await conserved(settings, month) == (True, 777)

    # The operator's walk from the province's remittance down to the two payments.
    async with resources_of(settings) as resources, resources.sessions() as session:
        top = await remittance_tree(session, uuid.UUID(body["id"]))
        lines = [line async for line in walk_lines(session, uuid.UUID(body["id"]))]
    chain, step = [], top
    while True:
        chain.append((step.amount_fen, step.trace_id != "-"))
        if not step.below:
            break
        step = step.below[0]
    assert chain == [(769, True), (961, True), (1_201, True), (1_501, True)]
    assert len(lines) == 6 and lines[0].startswith(f"remittance {body['id']}")
    payments = [line for line in lines if "payment " in line]
    assert sorted(line.split(" yuan")[0].rsplit(" ", 1)[1] for line in payments) == [
        "10.00",
        "20.01",
    ]
    assert payments[0].startswith("         ├─ payment ")
    assert lines[-1].startswith("         └─ payment ")


async def test_a_remittance_that_does_not_carry_what_it_says_is_named(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    month = date(2024, 7, 1)
    await paid_bills(client, settings, db, admin, tree.branch_b, month, [500])
    sent = await client.post(
        f"/orgs/{tree.branch_b}/remittances",
        json={"month": "2024-07"},
        headers=admin(tree.branch_b),
    )
    assert sent.status_code == 201
    # Damage the record by hand, as a faulty migration or operator might.
    await db("UPDATE bills SET remittance_id = NULL WHERE month = :m", m=month)
    found = await conservation_of(settings, month)
    assert not found.holds
    assert found.broken == [(uuid.UUID(sent.json()["id"]), tree.branch_b)]


async def test_remittances_are_listed_both_ways_with_what_they_carry(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    month = date(2024, 8, 1)
    await paid_bills(client, settings, db, admin, tree.branch_a, month, [300, 400])
    sent = await client.post(
        f"/orgs/{tree.branch_a}/remittances",
        json={"month": "2024-08"},
        headers=admin(tree.branch_a),
    )
    assert sent.status_code == 201
    out = await client.get(
        f"/orgs/{tree.branch_a}/remittances",
        params={"direction": "out", "month": "2024-08"},
        headers=admin(tree.branch_a),
    )
    incoming = await client.get(
        f"/orgs/{tree.county_a}/remittances",
        params={"direction": "in", "month": "2024-08", "limit": 1},
        headers=admin(tree.county_a),
    )
    assert [r["id"] for r in out.json()["items"]] == [sent.json()["id"]]
    assert [r["id"] for r in incoming.json()["items"]] == [sent.json()["id"]]
    late = await client.get(
        f"/orgs/{tree.branch_a}/remittances",
        params={"month": "2024-08", "overdue": "true"},
        headers=admin(tree.branch_a),
    )
    assert late.json()["items"] == []  # sent the day the money came in

    detail = await client.get(f"/remittances/{sent.json()['id']}", headers=admin(tree.county_a))
    assert detail.status_code == 200, detail.text
    carried = detail.json()["includes"]
    assert sorted(c["amount_fen"] for c in carried) == [300, 400]
    assert {c["kind"] for c in carried} == {"bill"} and detail.json()["trace_id"]
    stranger = await client.get(f"/remittances/{sent.json()['id']}", headers=admin(tree.county_b))
    assert stranger.status_code == 404


async def test_a_subtree_summary_adds_up_its_branches_and_remittances(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    month = date(2024, 10, 1)
    await paid_bills(client, settings, db, admin, tree.branch_a, month, [1_000, 3_000])
    [member] = await new_members(settings, tree.branch_a)
    await db(
        "INSERT INTO bills (member_id, branch_id, month, amount_fen) VALUES (:m, :b, :month, 500)",
        m=member,
        b=tree.branch_a,
        month=month,
    )  # due, not paid
    await paid_bills(client, settings, db, admin, tree.branch_b, month, [2_000])
    sent = await client.post(
        f"/orgs/{tree.branch_a}/remittances",
        json={"month": "2024-10"},
        headers=admin(tree.branch_a),
    )
    assert sent.status_code == 201
    await client.post(f"/remittances/{sent.json()['id']}/receipt", headers=admin(tree.county_a))

    city = (
        await client.get(
            f"/orgs/{tree.city}/fee-summary", params={"month": "2024-10"}, headers=admin(tree.city)
        )
    ).json()
    assert (city["due_fen"], city["paid_fen"]) == (6_500, 6_000)
    assert city["collection_rate"] == round(6_000 / 6_500, 4)
    assert city["retained_fen"] == 2_000  # branch_a kept half of 4,000
    assert city["remitted_fen"] == 0 and city["received_fen"] == 0
    # Who pulls the rate down: each county's own dues, by name.
    assert {c["org_id"]: (c["due_fen"], c["paid_fen"]) for c in city["children"]} == {
        str(tree.county_a): (4_500, 4_000),
        str(tree.county_b): (2_000, 2_000),
    }
    exported = await client.get(
        f"/orgs/{tree.city}/fee-summary/export",
        params={"month": "2024-10"},
        headers=admin(tree.city),
    )
    assert exported.status_code == 200, exported.text
    assert "filename*=UTF-8''2024-10" in exported.headers["content-disposition"]
    header, *rows = load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True)
    assert header[:4] == ("组织", "应交（元）", "已交（元）", "收缴率")
    assert rows[0][:4] == ("合计", "65.00", "60.00", "92.31%")
    assert sorted(row[:4] for row in rows[1:]) == sorted(
        (
            c["name"],
            f"{c['due_fen'] / 100:.2f}",
            f"{c['paid_fen'] / 100:.2f}",
            f"{c['collection_rate']:.2%}",
        )
        for c in city["children"]
    )
    [audited] = await db(
        "SELECT action, target_id FROM audit_log WHERE action = 'export.fee_summary'"
    )
    assert audited.target_id == str(tree.city)
    county = (
        await client.get(
            f"/orgs/{tree.county_a}/fee-summary",
            params={"month": "2024-10"},
            headers=admin(tree.county_a),
        )
    ).json()
    assert (county["due_fen"], county["received_fen"], county["overdue_remittances"]) == (
        4_500,
        2_000,
        0,
    )
    other = await client.get(
        f"/orgs/{tree.county_a}/fee-summary",
        params={"month": "2024-10"},
        headers=admin(tree.county_b),
    )
    assert other.status_code == 403


async def paid_days_ago(db, branch: uuid.UUID, month: date, days: int) -> None:  # type: ignore[no-untyped-def]
    """The branch's paid bills of the month not yet remitted were paid `days` earlier."""
    await db(
        "UPDATE bills SET paid_at = paid_at - make_interval(days => :days) "
        "WHERE branch_id = :b AND month = :m AND remittance_id IS NULL",
        b=branch,
        m=month,
        days=days,
    )


async def look_twice_for_the_newly_overdue(settings: FeesSettings) -> None:
    """The workers' quarter-hourly look, twice (as two workers would)."""
    async with resources_of(settings) as resources:
        for _ in range(2):
            async with resources.sessions() as session, session.begin():
                await tell_newly_overdue(session, default_calendar(), beijing_today())


async def test_money_held_past_its_due_date_is_listed_and_counted_up_the_tree(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    month, label = date(2024, 11, 1), "2024-11"
    calendar = default_calendar()
    await paid_bills(client, settings, db, admin, tree.branch_a, month, [500, 250])
    await paid_bills(client, settings, db, admin, tree.branch_b, month, [300])
    # branch_a's money came in a month ago; branch_b's today (not due yet).
    await paid_days_ago(db, tree.branch_a, month, 30)

    def overdue(org: uuid.UUID, **params: object) -> object:
        return client.get(
            f"/orgs/{org}/overdue-holdings", params={"month": label, **params}, headers=admin(org)
        )

    listed = (await overdue(tree.city)).json()
    [held] = listed["items"]
    assert (held["org_id"], held["org_type"], held["held_fen"]) == (
        str(tree.branch_a),
        "branch",
        750,
    )
    paid_on = beijing_today() - timedelta(days=30)
    assert held["due_by"] == calendar.add_working_days(paid_on, 5).isoformat()

    # branch_b sends its money up; its county confirms it and then sits on it for 40 days: ten
    # working days is the most a county may hold it.
    sent = await client.post(
        f"/orgs/{tree.branch_b}/remittances", json={"month": label}, headers=admin(tree.branch_b)
    )
    assert sent.status_code == 201
    await client.post(f"/remittances/{sent.json()['id']}/receipt", headers=admin(tree.county_b))
    await db(
        "UPDATE remittances SET received_at = received_at - interval '40 days' WHERE id = :r",
        r=uuid.UUID(sent.json()["id"]),
    )
    first = (await overdue(tree.city, limit=1)).json()
    assert [h["org_id"] for h in first["items"]] == [str(tree.county_b)]  # held the longest
    assert first["items"][0]["held_fen"] == 150  # what branch_b sent: 300 less half kept
    second = (await overdue(tree.city, limit=1, cursor=first["next_cursor"])).json()
    assert [h["org_id"] for h in second["items"]] == [str(tree.branch_a)]
    assert second["next_cursor"] is None
    # A county sees its own subtree only.
    assert [h["org_id"] for h in (await overdue(tree.county_a)).json()["items"]] == [
        str(tree.branch_a)
    ]
    summary = await client.get(
        f"/orgs/{tree.city}/fee-summary", params={"month": label}, headers=admin(tree.city)
    )
    assert summary.json()["overdue_holdings"] == 2
    # The workers tell each of them once (fee.remittance_overdue), however often they look.
    await look_twice_for_the_newly_overdue(settings)
    told = await db(
        "SELECT envelope->'data' AS data FROM outbox WHERE type = 'fee.remittance_overdue' "
        "AND envelope->'data'->>'month' = :m",
        m=label,
    )
    assert sorted(
        (t.data["org_id"], t.data["parent_id"], t.data["held_fen"]) for t in told
    ) == sorted(
        [(str(tree.branch_a), str(tree.county_a), 750), (str(tree.county_b), str(tree.city), 150)]
    )

    # Remitted, even late, it is no longer held.
    late = await client.post(
        f"/orgs/{tree.branch_a}/remittances", json={"month": label}, headers=admin(tree.branch_a)
    )
    assert late.status_code == 201
    assert [h["org_id"] for h in (await overdue(tree.city)).json()["items"]] == [str(tree.county_b)]

    # Money of that month comes to branch_a again (a member paying late) and sits there past
    # its due date too: a new holding, told again; the one told before is not.
    await paid_bills(client, settings, db, admin, tree.branch_a, month, [400])
    await paid_days_ago(db, tree.branch_a, month, 20)
    await look_twice_for_the_newly_overdue(settings)
    told = await db(
        "SELECT envelope->'data' AS data FROM outbox WHERE type = 'fee.remittance_overdue' "
        "AND envelope->'data'->>'month' = :m AND envelope->'data'->>'org_id' = :o",
        m=label,
        o=str(tree.branch_a),
    )
    assert sorted(t.data["held_fen"] for t in told) == [400, 750]


async def test_the_assessment_counts_bills_paid_and_remittances_on_time_per_child(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    """2019 is this test's alone: every figure below comes from what it writes."""
    await paid_bills(client, settings, db, admin, tree.branch_a, date(2019, 3, 1), [1_000, 2_000])
    [unpaid] = await new_members(settings, tree.branch_a)
    await db(
        "INSERT INTO bills (member_id, branch_id, month, amount_fen) VALUES (:m, :b, :month, 500)",
        m=unpaid,
        b=tree.branch_a,
        month=date(2019, 3, 1),
    )
    await paid_bills(client, settings, db, admin, tree.branch_b, date(2019, 4, 1), [800])
    for branch, month in ((tree.branch_a, "2019-03"), (tree.branch_b, "2019-04")):
        sent = await client.post(
            f"/orgs/{branch}/remittances", json={"month": month}, headers=admin(branch)
        )
        assert sent.status_code == 201, sent.text
    # Branch b's was due long before it went.
    await db(
        "UPDATE remittances SET due_by = '2019-05-10' WHERE from_org_id = :b AND month = :m",
        b=tree.branch_b,
        m=date(2019, 4, 1),
    )
    system = caller_headers(settings.platform.internal_secret, "system", None)

    async def share(name: str, year: int = 2019) -> dict[str, object]:
        r = await client.get(
            f"/internal/orgs/{tree.city}/assessment/{name}", params={"year": year}, headers=system
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def by_child(found: dict[str, object]) -> dict[str, tuple[int, int]]:
        return {c["org_id"]: (c["numerator"], c["denominator"]) for c in found["children"]}  # type: ignore[attr-defined,index]

    collection = await share("dues-collection")
    assert (collection["numerator"], collection["denominator"]) == (3, 4)
    assert by_child(collection) == {str(tree.county_a): (2, 3), str(tree.county_b): (1, 1)}
    remitted = await share("remittance-timeliness")
    assert (remitted["numerator"], remitted["denominator"], remitted["rate"]) == (1, 2, 0.5)
    assert by_child(remitted) == {str(tree.county_a): (1, 1), str(tree.county_b): (0, 1)}
    assert (await share("dues-collection", 2018))["denominator"] == 0
    refused = await client.get(
        f"/internal/orgs/{tree.city}/assessment/dues-collection",
        params={"year": 2019},
        headers=admin(tree.city),
    )
    assert refused.status_code == 403


async def test_holding_nothing_is_never_overdue(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    """0-fen bills paid a month ago: nothing to remit, so nothing sits overdue."""
    month, label = date(2022, 7, 1), "2022-07"
    await paid_bills(client, settings, db, admin, tree.branch_a, month, [0, 0])
    await paid_days_ago(db, tree.branch_a, month, 30)
    listed = await client.get(
        f"/orgs/{tree.city}/overdue-holdings", params={"month": label}, headers=admin(tree.city)
    )
    assert listed.status_code == 200 and listed.json()["items"] == []
    r = await client.post(
        f"/orgs/{tree.branch_a}/remittances", json={"month": label}, headers=admin(tree.branch_a)
    )
    assert r.status_code == 409 and r.json()["code"] == "fee.nothing_to_remit"
