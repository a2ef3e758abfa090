"""Dues end to end: members imported into a branch reach the fees service by events, declare
what they earn, and the province's month start bills them through the fees-worker process, which
may die in the middle of a chunk without billing anyone twice."""

from __future__ import annotations

import random
from datetime import date

from members.fakes import as_csv, people
from shared.calendar import beijing_today

from .conftest import Api, Running, Tree, eventually


def next_month(today: date) -> str:
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


def test_the_month_start_bills_each_member_with_a_profile_once(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    imported = root_admin.post(
        f"/orgs/{tree.branch_b}/members/import",
        files={"file": ("团员.csv", as_csv(list(people(3, random.Random(7)))))},
    )
    assert imported.status_code == 200, imported.text[:300]
    salaried, student, undeclared = (m["id"] for m in imported.json()["members"])

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
