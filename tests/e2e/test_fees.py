"""Dues end to end: members imported into a branch reach the fees service by events, declare
what they earn, and the province's month start bills them through the fees-worker process, which
may die in the middle of a chunk without billing anyone twice."""

from __future__ import annotations

import json
import random
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from fees.provider import SIGNATURE_HEADER, callback_signature
from members.fakes import as_csv, people
from shared.calendar import beijing_today
from shared.crypto import derive_key

from .conftest import (
    MEMBER_PASSWORD,
    PDF,
    STRONG,
    Api,
    Running,
    Tree,
    activate_member,
    eventually,
    pick_date,
    sign_in,
)

PASSWORD = MEMBER_PASSWORD


def next_month(today: date) -> str:
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


def test_the_month_start_bills_each_member_with_a_profile_once(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    imported = root_admin.post(
        f"/orgs/{tree.branch_b}/members/import",
        files={"file": ("团员.csv", as_csv(list(people(7, random.Random(7)))))},
    )
    assert imported.status_code == 200, imported.text[:300]
    # Students too: two whose cash the branch records in one go, and one whose dues are paid
    # twice (online and in cash).
    salaried, student, undeclared, another_student, paid_twice, *in_one_go = (
        m["id"] for m in imported.json()["members"]
    )

    def declare(member: str, body: dict[str, object]) -> int:
        r = root_admin.put(f"/members/{member}/fee-profile", json=body)
        return r.status_code

    # The fees service's copy of the branch fills from the import's member.imported event.
    eventually(
        lambda: declare(salaried, {"category": "salaried", "monthly_income_fen": 600_000}) == 200,
        within=30,
        interval=0.3,
    )
    assert declare(student, {"category": "student"}) == 200
    assert declare(another_student, {"category": "student"}) == 200
    for member in (paid_twice, *in_one_go):
        assert declare(member, {"category": "student"}) == 200

    month = next_month(beijing_today())  # the service counts months in Beijing time
    # The worker dies in the middle of the first chunk it takes: bills written, not committed.
    system = running.system
    system.stop("fees-worker")
    system.start("fees-worker", extra_env={"FEES_FAULT_EXIT_IN_CHUNK": "true"})
    opened = root_admin.post("/fee-cycles", json={"month": month})
    assert opened.status_code == 202, opened.text
    assert system.wait_exit("fees-worker", timeout=60) == 17
    assert root_admin.get(f"/fee-cycles/{month}").json()["chunks_done"] == 0
    # Back, it is handed the same chunk again and finishes it.
    system.start("fees-worker")
    done = eventually(
        lambda: (c := root_admin.get(f"/fee-cycles/{month}").json())["status"] == "done" and c,
        within=60,
        interval=0.5,
    )
    assert done["chunks_done"] == done["chunks_total"] and done["bills"] >= 2
    # Asking again changes nothing.
    assert root_admin.post("/fee-cycles", json={"month": month}).json()["bills"] == done["bills"]

    # Every member billed exactly once, across the province, after the crash.
    twice = running.db(
        "fees",
        "SELECT count(*) AS n FROM (SELECT member_id FROM bills WHERE month = $1 "
        "GROUP BY member_id HAVING count(*) > 1) AS doubled",
        date.fromisoformat(f"{month}-01"),
    )
    assert twice[0]["n"] == 0
    listed = root_admin.get(f"/orgs/{tree.branch_b}/bills", params={"month": month}).json()
    amounts = {b["member_id"]: b["amount_fen"] for b in listed["items"]}
    assert amounts[salaried] == 9_000 and amounts[student] == 20  # 1.5% of 6,000 yuan
    assert undeclared not in amounts
    assert undeclared in {m["member_id"] for m in listed["missing_profile"]}
    assert listed["totals"]["due_fen"] == sum(amounts.values())


def test_a_member_pays_online_and_the_provider_confirms_through_the_gateway(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    month = next_month(beijing_today())
    listed = root_admin.get(f"/orgs/{tree.branch_b}/bills", params={"month": month}).json()
    bill = next(b for b in listed["items"] if b["status"] == "due")
    record = {"id": bill["member_id"], "member_no": member_no_of(root_admin, bill["member_id"])}
    member = activate_member(running, root_admin, tree.branch_b, record)

    started = member.post(f"/bills/{bill['id']}/payments", json={"channel": "online"})
    assert started.status_code == 201 and started.json()["status"] == "pending", started.text
    callback = provider_says_paid(running, started.json()["id"])
    assert callback.status_code == 200 and callback.json()["status"] == "paid", callback.text
    mine = member.get(f"/members/{bill['member_id']}/bills").json()["items"]
    assert [(b["status"], b["channel"]) for b in mine if b["id"] == bill["id"]] == [
        ("paid", "online")
    ]


def test_the_member_sees_the_payment_on_the_phone_page(
    running: Running, root_admin: Api, tree: Tree, browser: Browser
) -> None:
    """The member who paid online above, on a phone: the record, and the month's bill paid."""
    month = next_month(beijing_today())
    listed = root_admin.get(f"/orgs/{tree.branch_b}/bills", params={"month": month}).json()
    [paid] = [b for b in listed["items"] if b["channel"] == "online"]
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone.set_default_timeout(15_000)
    try:
        phone.goto(f"{running.system.gateway_url}/login")
        sign_in(phone, member_no_of(root_admin, paid["member_id"]), PASSWORD)
        expect(phone).to_have_url(f"{running.system.gateway_url}/m")
        expect(phone.locator("[data-test=my-record]")).to_contain_text(paid["member_name"])
        phone.get_by_role("tab", name="团费").click()
        bill = phone.locator("[data-test=my-bill]").filter(has_text=month)
        expect(bill).to_contain_text("已交")
        expect(bill).to_contain_text("在线缴纳")
        # The member's own fee profile (缴费信息): what it makes a month, changed in place.
        now = phone.locator("[data-test=fee-profile-now]")
        expect(now).to_contain_text("在职，每月应交团费 ¥90.00")  # 1.5% of 6,000 yuan
        profile = phone.locator("[data-test=fee-profile]")
        profile.get_by_text("学生团员", exact=True).click()
        profile.get_by_role("button", name="保存").click()
        expect(now).to_contain_text("学生团员，每月应交团费 ¥0.20")
    finally:
        context.close()


def test_the_branch_records_cash_in_the_console_and_its_county_sees_the_rate(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    """The same dues in the web console: the branch's list of the month, a cash payment
    recorded from it, and the county's collection rate per branch as a chart."""
    base, month = running.system.gateway_url, next_month(beijing_today())

    def totals() -> dict[str, int]:
        listed = root_admin.get(f"/orgs/{tree.branch_b}/bills", params={"month": month})
        return dict(listed.json()["totals"])

    before = totals()
    assert before["count"] > before["paid_count"]  # some are still due
    listed = root_admin.get(f"/orgs/{tree.branch_b}/bills", params={"month": month}).json()
    page.goto(f"{base}/login?next=/orgs/{tree.branch_b}%3Ftab%3Dbills%26month%3D{month}")
    sign_in(page, "admin", STRONG)
    # Who has not filled in their fee information, by name, for the secretary to chase.
    missing = page.locator("[data-test=missing-profiles]")
    for member in listed["missing_profile"]:
        expect(missing).to_contain_text(member["name"])
    shown = page.locator("[data-test=bill-totals]")
    expect(shown).to_contain_text(f"应交 {before['count']} 笔")
    expect(shown).to_contain_text(f"已交 {before['paid_count']} 笔")
    page.get_by_role("button", name="记录现金缴纳", exact=True).first.click()
    page.get_by_role("button", name="确认", exact=True).click()
    expect(shown).to_contain_text(f"已交 {before['paid_count'] + 1} 笔")
    assert totals()["paid_count"] == before["paid_count"] + 1
    # Cash handed over at a meeting: two members ticked, recorded in one go.
    due_rows = page.locator(".el-table__body tr").filter(has_text="应交")
    for n in range(2):
        due_rows.nth(n).locator(".el-checkbox").click()
    page.locator("[data-test=cash-chosen]").click()
    page.get_by_role("button", name="确认", exact=True).click()
    expect(page.get_by_text("已记录 2 笔")).to_be_visible()
    expect(shown).to_contain_text(f"已交 {before['paid_count'] + 3} 笔")
    assert totals()["paid_count"] == before["paid_count"] + 3

    page.goto(f"{base}/orgs/{tree.county_b}?tab=fees&month={month}")
    after = totals()
    rate = f"{after['paid_fen'] / after['due_fen']:.2%}"
    expect(page.locator("[data-test=fee-summary]")).to_contain_text(rate)
    chart = page.locator("[data-test=collection-chart]")
    expect(chart.locator("canvas")).to_be_visible()
    # The chart says in words what it draws, for a screen reader: the branch and its rate.
    expect(chart).to_have_attribute("aria-label", re.compile(f"乙县第一团支部 {re.escape(rate)}"))

    # Had the branch held that cash a month without sending it up, the county's summary names
    # it beside the count, a link to its remittances of the month.
    first_of_month = date(int(month[:4]), int(month[5:]), 1)
    held = (
        "UPDATE bills SET paid_at = paid_at + make_interval(days => $3) WHERE branch_id = $1 "
        "AND month = $2 AND status = 'paid' AND remittance_id IS NULL RETURNING id"
    )
    assert running.db("fees", held, tree.branch_b, first_of_month, -30)
    try:
        page.reload()
        holdings = page.locator("[data-test=overdue-holdings]")
        expect(holdings).to_contain_text("乙县第一团支部")
        expect(holdings).to_contain_text(f"{after['paid_fen'] / 100:.2f}")
        holdings.get_by_role("link", name="乙县第一团支部").click()
        expect(page.locator("[data-test=remittances]")).to_be_visible()
        assert f"/orgs/{tree.branch_b}" in page.url and f"month={month}" in page.url
    finally:
        running.db("fees", held, tree.branch_b, first_of_month, 30)


def test_money_paid_twice_goes_back_to_the_member_and_the_console_offers_it(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    """A member pays online while the branch takes the same month's dues in cash: the
    provider's "paid" is answered 409 and the money goes back to the member at once. Had the
    provider not answered then, the county's dues page lists it as owed back, and gives it back
    from there."""
    base, month = running.system.gateway_url, next_month(beijing_today())
    listed = root_admin.get(f"/orgs/{tree.branch_b}/bills", params={"month": month}).json()
    bill = next(b for b in listed["items"] if b["status"] == "due")
    record = {"id": bill["member_id"], "member_no": member_no_of(root_admin, bill["member_id"])}
    member = activate_member(running, root_admin, tree.branch_b, record)
    started = member.post(f"/bills/{bill['id']}/payments", json={"channel": "online"})
    assert started.status_code == 201, started.text
    cash = root_admin.post(f"/bills/{bill['id']}/payments", json={"channel": "cash"})
    assert cash.status_code == 201, cash.text
    callback = provider_says_paid(running, started.json()["id"])
    assert callback.status_code == 409 and callback.json()["code"] == "fee.already_paid"

    def given_back() -> list[dict[str, Any]]:
        found = root_admin.get(f"/orgs/{tree.county_b}/refunds", params={"status": "refunded"})
        assert found.status_code == 200, found.text
        return [r for r in found.json()["items"] if r["payment_id"] == started.json()["id"]]

    [back] = given_back()
    assert (back["reason"], back["amount_fen"]) == ("already_paid", bill["amount_fen"])

    # As if the provider had not answered at the callback: the money is still owed.
    owed_again = (
        "UPDATE payments SET status = 'refund_due', refund_ref = NULL, refunded_at = NULL, "
        "refunded_by = NULL WHERE id = $1 RETURNING id"
    )
    assert running.db("fees", owed_again, uuid.UUID(started.json()["id"]))
    assert given_back() == []
    page.goto(f"{base}/login?next=/orgs/{tree.county_b}%3Ftab%3Dfees%26month%3D{month}")
    sign_in(page, "admin", STRONG)
    owed = page.locator("[data-test=refunds-due]")
    expect(owed).to_contain_text(bill["member_name"])
    expect(owed).to_contain_text("已用其他方式缴纳")
    owed.get_by_role("button", name="退款").click()
    page.get_by_role("dialog").get_by_role("button", name="退款").click()
    expect(page.get_by_text("已退款")).to_be_visible()
    expect(owed).to_be_hidden()  # nothing is owed back any more
    [back] = given_back()
    assert back["status"] == "refunded" and back["refunded_at"]
    # The operator's sweep after a provider outage finds nothing more owed.
    swept = running.system.run_command("fees", "give-back")
    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout) == {"given": 0, "still_owed": 0}
    # The bill stays paid once, by the cash.
    mine = member.get(f"/members/{bill['member_id']}/bills").json()["items"]
    assert [(b["status"], b["channel"], b["refunds"]) for b in mine if b["id"] == bill["id"]] == [
        ("paid", "cash", [{"amount_fen": bill["amount_fen"], "status": "refunded"}])
    ]


def provider_says_paid(running: Running, payment_id: str) -> httpx.Response:
    """The payment provider's signed callback, through the gateway: the payment is paid."""
    raw = json.dumps({"payment_id": payment_id, "status": "paid"}).encode()
    key = derive_key(running.system.secrets().internal_secret, "fees/provider-callbacks")
    return httpx.post(
        f"{running.system.gateway_url}/api/v1/payments/callback",
        content=raw,
        headers={
            SIGNATURE_HEADER: callback_signature(key, raw),
            "Content-Type": "application/json",
        },
        timeout=30,
    )


def member_no_of(admin: Api, member_id: str) -> str:
    return str(admin.get(f"/members/{member_id}").json()["member_no"])


def test_the_branchs_dues_go_up_to_the_province_traced_and_conserved(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    base, month = running.system.gateway_url, next_month(beijing_today())
    listed = root_admin.get(f"/orgs/{tree.branch_b}/bills", params={"month": month}).json()
    due = [bill for bill in listed["items"] if bill["status"] == "due"]
    # Twenty tries at once to record the first bill's cash, spread over the two fees-api
    # processes: one payment, the others told it is paid.
    with ThreadPoolExecutor(20) as pool:
        tries = list(
            pool.map(
                lambda _: root_admin.post(
                    f"/bills/{due[0]['id']}/payments", json={"channel": "cash"}
                ),
                range(20),
            )
        )
    [made] = [r for r in tries if r.status_code == 201]
    assert sorted(r.status_code for r in tries) == [201] + [409] * 19
    assert {r.json()["code"] for r in tries if r.status_code == 409} == {"fee.already_paid"}
    payment_traces = {made.headers["x-trace-id"]}
    for bill in due[1:]:
        paid = root_admin.post(f"/bills/{bill['id']}/payments", json={"channel": "cash"})
        assert paid.status_code == 201, paid.text
        payment_traces.add(paid.headers["x-trace-id"])

    # The first step up in the console: the branch remits, its county confirms the receipt and
    # sees the bills it carries.
    page.goto(f"{base}/login?next=/orgs/{tree.branch_b}%3Ftab%3Dremittances%26month%3D{month}")
    sign_in(page, "admin", STRONG)
    page.locator("[data-test=remit]").click()
    page.get_by_role("button", name="上缴", exact=True).click()
    rows = page.locator("[data-test=remittances] .el-table__body tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("已上缴，待确认")
    expect(rows.first).to_contain_text("5个工作日内（截至")  # GLOSSARY's deadline
    expect(rows.first).to_contain_text("乙县委")  # whom it paid, though the branch may not read it
    page.goto(f"{base}/orgs/{tree.county_b}?tab=remittances&month={month}")
    page.get_by_text("下级上缴", exact=True).click()
    sent_up = rows.filter(has_text="乙县第一团支部")
    sent_up.get_by_role("button", name="确认收到").click()
    expect(sent_up).to_contain_text("已确认收到")
    sent_up.click()
    carried = page.get_by_role("dialog", name="上缴明细").locator(".el-table__body tr")
    expect(carried).to_have_count(len(listed["items"]))  # every bill of the month is paid now
    page.keyboard.press("Escape")

    chain = [tree.county_b, tree.city, tree.root]
    last: dict[str, Any] = {}
    for sender in chain:
        sent = root_admin.post(f"/orgs/{sender}/remittances", json={"month": month})
        assert sent.status_code == 201, sent.text
        last = sent.json()
        if last["to_org_id"]:
            received = root_admin.post(f"/remittances/{last['id']}/receipt")
            assert received.status_code == 200, received.text
    assert last["status"] == "passed_on" and last["amount_fen"] > 0

    # The county, having remitted, spends from what it kept: not more than it has, and the use is on record.
    page.goto(f"{base}/orgs/{tree.county_b}?tab=usages")
    page.get_by_label("金额（元）").fill("100000")
    page.locator("input[name=purpose]").fill("团日活动场地")
    pick_date(page, "决定日期", beijing_today().isoformat())
    page.locator("input[name=decision-ref]").fill("乙团〔2026〕1号")
    page.get_by_role("button", name="登记").click()
    expect(page.get_by_text("可用团费不足")).to_be_visible()
    page.get_by_label("金额（元）").fill("0.01")
    page.locator("input[name=minutes]").set_input_files(
        {"name": "会议纪要.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_role("button", name="登记").click()
    recorded = page.locator("[data-test=fee-usages] .el-table__body tr").filter(
        has_text="团日活动场地"
    )
    expect(recorded).to_contain_text("查看")  # the minutes went with it
    # The decision's minutes, uploaded, go with a use; an id that was never uploaded does not.
    minutes = root_admin.post(
        "/documents", files={"file": ("会议纪要.pdf", PDF, "application/pdf")}
    )
    assert minutes.status_code == 201, minutes.text
    use = {
        "amount_fen": 1,
        "purpose": "团课教材",
        "decided_on": beijing_today().isoformat(),
        "decision_ref": "乙团〔2026〕2号",
    }
    unknown = root_admin.post(
        f"/orgs/{tree.county_b}/fee-usages", json={**use, "document_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "fee.document_not_found"
    used = root_admin.post(
        f"/orgs/{tree.county_b}/fee-usages", json={**use, "document_id": minutes.json()["id"]}
    )
    assert used.status_code == 201 and used.json()["document_id"] == minutes.json()["id"]

    # The province sees the month start's progress: every chunk done, the bills counted.
    page.goto(f"{base}/orgs/{tree.root}?tab=fees&month={month}")
    expect(page.locator("[data-test=cycle]")).to_contain_text("已完成")
    expect(page.locator("[data-test=cycle]")).to_contain_text("笔团费")

    # The operator's check: every fen of the month accounted for.
    check = running.system.run_command("fees", "check-conservation", "--month", month)
    assert check.returncode == 0, check.stdout + check.stderr
    # Its stdout is its answer alone, one JSON line (log lines go to stderr), for `jq`.
    assert json.loads(check.stdout)["holds"] is True
    # A mistyped month is a usage error (2), not "money is missing" (1).
    typo = running.system.run_command("fees", "check-conservation", "--month", "2026-13")
    assert typo.returncode == 2 and "is not a month" in typo.stderr, typo.stderr

    # In the traces, the province's remittance links down the chain to the cash payments.
    def linked_traces(trace_id: str) -> set[str]:
        spans = [
            s
            for s in running.spans()
            if s["trace_id"] == trace_id and s["name"] in ("fee.remit", "fee.remit.carries")
        ]
        return {link["trace_id"] for s in spans for link in s["links"]}

    def walk() -> set[str] | None:
        frontier, seen = {last["trace_id"]}, set()
        while frontier:
            trace_id = frontier.pop()
            seen.add(trace_id)
            frontier |= linked_traces(trace_id) - seen
        return seen if payment_traces <= seen else None

    assert eventually(walk, within=10)

    # Without a dashboard: the same walk from the database, the province's remittance down to
    # each payment, each line with its trace id.
    tree_out = running.system.run_command("fees", "trace", last["id"])
    assert tree_out.returncode == 0, tree_out.stderr
    lines = tree_out.stdout.strip().splitlines()
    assert lines[0].startswith(f"remittance {last['id']}")
    assert sum("remittance " in line for line in lines) == len(chain) + 1  # and the branch's
    walked = {line.rsplit("trace ", 1)[1] for line in lines if "payment " in line}
    assert payment_traces <= walked  # and the online payment of the test before
