"""What must hold after every fault, read from the databases (and the broker) themselves, not
through the API: a fault that the API hid but the data kept would otherwise pass."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable

from deploy.launcher import System
from tests.e2e.conftest import Running

MEMBERS_BY_BRANCH = "SELECT branch_id AS branch, count(*) AS n FROM members GROUP BY 1"
ORG_COUNTS = "SELECT id AS branch, member_count AS n FROM orgs WHERE org_type = 'branch'"
FEES_BY_BRANCH = (
    "SELECT branch_id AS branch, count(*) AS n FROM fee_members WHERE status = 'active' GROUP BY 1"
)
ACCOUNTS_BY_BRANCH = (
    "SELECT org_id AS branch, count(*) AS n FROM accounts WHERE role = 'member' GROUP BY 1"
)
MEMBER_BRANCHES = "SELECT id AS member, branch_id AS branch FROM members"
ACCOUNT_BRANCHES = (
    "SELECT member_id AS member, org_id AS branch FROM accounts WHERE role = 'member'"
)
ACCOUNTS_TWICE = (
    "SELECT count(*) AS n FROM (SELECT member_id FROM accounts WHERE role = 'member' "
    "GROUP BY member_id HAVING count(*) > 1) AS twice"
)
PAID_TWICE = (
    "SELECT count(*) AS n FROM (SELECT bill_id FROM payments WHERE status = 'paid' "
    "GROUP BY bill_id HAVING count(*) > 1) AS twice"
)
PAID_WITHOUT_PAYMENT = (
    "SELECT count(*) AS n FROM bills b WHERE b.status = 'paid' AND NOT EXISTS "
    "(SELECT 1 FROM payments p WHERE p.bill_id = b.id AND p.status = 'paid')"
)


def _counts(running: Running, service: str, sql: str) -> dict[uuid.UUID, int]:
    return {r["branch"]: int(r["n"]) for r in running.db(service, sql) if r["n"]}


def settled(check: Callable[[], list[str]], within: float) -> list[str]:
    """Events still on their way may take a while: the violations left once they stop
    changing for good, or at the deadline."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def members_everywhere(running: Running) -> list[str]:
    """Every member in exactly one branch, the same one in members, identity and fees; one
    account per member; the branch counts of org, members, fees and identity equal."""
    wrong = []
    members = _counts(running, "members", MEMBERS_BY_BRANCH)
    for service, sql in (
        ("org", ORG_COUNTS),
        ("fees", FEES_BY_BRANCH),
        ("identity", ACCOUNTS_BY_BRANCH),
    ):
        theirs = _counts(running, service, sql)
        if theirs != members:
            differ = {b for b in set(theirs) | set(members) if theirs.get(b) != members.get(b)}
            wrong.append(
                f"{service}'s member counts differ from members' in {len(differ)} branches"
            )
    where = {r["member"]: r["branch"] for r in running.db("members", MEMBER_BRANCHES)}
    accounts = {r["member"]: r["branch"] for r in running.db("identity", ACCOUNT_BRANCHES)}
    if accounts != where:
        wrong.append(
            f"{len(set(where) ^ set(accounts))} members without an account or accounts without "
            f"a member; {sum(accounts.get(m) not in (None, b) for m, b in where.items())} "
            "accounts in another branch than their member"
        )
    if running.db("identity", ACCOUNTS_TWICE)[0]["n"]:
        wrong.append("a member has two accounts")
    return wrong


def money(running: Running, system: System, month: str) -> list[str]:
    """No bill paid twice or paid without its payment; every fen of the month accounted for."""
    wrong = []
    if running.db("fees", PAID_TWICE)[0]["n"]:
        wrong.append("a bill paid twice")
    if running.db("fees", PAID_WITHOUT_PAYMENT)[0]["n"]:
        wrong.append("a bill paid without a payment")
    check = system.run_command("fees", "check-conservation", "--month", month, echo=False)
    last = (check.stdout.strip().splitlines() or ["{}"])[-1]
    if check.returncode != 0 or not json.loads(last).get("holds"):
        wrong.append(f"conservation does not hold: {last}")
    return wrong


def _queues(vhost: str) -> list[tuple[str, int]]:
    """Every queue of the vhost with the messages waiting in it."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rows = (line.rpartition("\t") for line in listed.splitlines())
    return [(name, int(count)) for name, _, count in rows if count.isdigit()]


def dead_letters(vhost: str) -> list[str]:
    """No message in any dead-letter queue: nothing given up on."""
    return [
        f"{n} dead letters in {name}" for name, n in _queues(vhost) if name.endswith(".dlq") and n
    ]


def queue_depth(vhost: str, queue: str) -> int:
    return sum(n for name, n in _queues(vhost) if name == queue)
