"""The province's annual assessment over N members, and a member list export of N rows.

Brings up a throw-away system as operators run it (spans exported over OTLP to a stand-in
collector, INFO logs), seeds a province of N members (default 1,000,000) in N/20 branches under
20 cities straight into the services' databases (COPY): org's tree and every service's copy of
it, identity's member accounts (60% used this year), the members' records (sealed as the
service seals them), and one month of fees bills (70% paid). Then:

1. `GET /orgs/{root}/assessment?year=` through the gateway (every service's figure over the
   whole province with each city's), beside the lower bound: the two largest figures' grouped
   statements (identity's usage, fees' collection) hand-written on their databases;
2. `GET /orgs/{root}/members/export` through the gateway: the .xlsx of all N members, with the
   peak resident memory of members-api and the gateway before and after, beside `COPY (SELECT
   the same columns) TO STDOUT` on the members database.

    .venv/bin/python bench/supervision.py [--members 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from common import copy_org_tree, running_system, traced_as_operators_run
from seed_members import seed as seed_members

from deploy.launcher import System

PORT_BASE = 27000  # below the ephemeral range: a health probe cannot meet itself
SINK_PORT = PORT_BASE + 191
CITIES = 20
BRANCH_SIZE = 20
USAGE_SQL = (
    "SELECT b.path[2] AS child, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM account_activity u "
    "WHERE u.account_id = a.id AND u.month BETWEEN $1 AND $2)), count(*) FROM accounts a "
    "JOIN org_replica b ON b.id = a.org_id WHERE a.role = 'member' GROUP BY 1"
)
COLLECTION_SQL = (
    "SELECT b.path[2] AS child, count(*) FILTER (WHERE bills.status = 'paid'), count(*) "
    "FROM bills JOIN org_replica b ON b.id = bills.branch_id "
    "WHERE bills.month BETWEEN $1 AND $2 GROUP BY 1"
)
EXPORT_SELECT = (
    "SELECT m.member_no, m.name, m.gender, m.ethnicity, m.birth_date, m.id_number_masked, "
    "m.joined_on, m.joined_place, b.name, m.status FROM members m "
    "LEFT JOIN org_replica b ON b.id = m.branch_id ORDER BY m.org_path, m.name, m.id"
)


def db_url(prefix: str, service: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{prefix}_{service}"


async def seed_tree(prefix: str, root: uuid.UUID, members: int) -> list[list[uuid.UUID]]:
    """20 cities under the root, N/20 branches spread over them: into org's table and every
    service's copy. Returns each branch's path."""
    cities = [uuid.uuid4() for _ in range(CITIES)]
    branches = [
        [root, cities[i % CITIES], uuid.uuid4()] for i in range(max(1, members // BRANCH_SIZE))
    ]
    nodes = [(c, root, [root, c], f"第{n + 1}市委", "committee") for n, c in enumerate(cities)]
    nodes += [(p[-1], p[1], p, f"第{n + 1}团支部", "branch") for n, p in enumerate(branches)]
    await copy_org_tree(lambda service: db_url(prefix, service), nodes)
    return branches


async def seed_accounts_and_bills(prefix: str, branches: list[list[uuid.UUID]]) -> None:
    rng = random.Random(20261204)
    month = date.today().replace(day=1)
    identity = await asyncpg.connect(db_url(prefix, "identity"))
    fees = await asyncpg.connect(db_url(prefix, "fees"))
    try:
        accounts, activity, bills = [], [], []
        for path in branches:
            for _ in range(BRANCH_SIZE):
                account, member = uuid.uuid4(), uuid.uuid4()
                accounts.append(
                    (account, f"b{account.hex[:14]}", "member", path[-1], member, "active")
                )
                if rng.random() < 0.6:
                    activity.append((account, month))
                paid = rng.random() < 0.7
                bills.append((member, path[-1], month, 1_500, "paid" if paid else "due"))
        await identity.copy_records_to_table(
            "accounts",
            columns=["id", "username", "role", "org_id", "member_id", "status"],
            records=accounts,
        )
        await identity.copy_records_to_table(
            "account_activity", columns=["account_id", "month"], records=activity
        )
        await identity.execute("ANALYZE accounts; ANALYZE account_activity")
        await fees.copy_records_to_table(
            "bills",
            columns=["member_id", "branch_id", "month", "amount_fen", "status"],
            records=bills,
        )
        await fees.execute("ANALYZE bills")
    finally:
        await identity.close()
        await fees.close()


async def lower_bound(prefix: str) -> float:
    """The two largest figures' statements by hand, at once as the report asks them, on
    connections already open (best of three)."""
    year = date.today().year
    first, last = date(year, 1, 1), date(year, 12, 31)
    identity = await asyncpg.connect(db_url(prefix, "identity"))
    fees = await asyncpg.connect(db_url(prefix, "fees"))
    try:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            await asyncio.gather(
                identity.fetch(USAGE_SQL, first, last), fees.fetch(COLLECTION_SQL, first, last)
            )
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        await identity.close()
        await fees.close()


async def copy_bound(prefix: str) -> tuple[float, int]:
    conn = await asyncpg.connect(db_url(prefix, "members"))
    size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    try:
        started = time.perf_counter()
        await conn.copy_from_query(EXPORT_SELECT, output=sink)
        return time.perf_counter() - started, size
    finally:
        await conn.close()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pid_of(system: System, name: str) -> int:
    pid = system.pid(name)
    assert pid is not None, name
    return pid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()
    with (
        traced_as_operators_run(SINK_PORT) as tracing,
        running_system(PORT_BASE, **tracing) as bench,
    ):
        root = uuid.UUID(bench.boot["root_org_id"])
        started = time.perf_counter()
        branches = asyncio.run(seed_tree(bench.prefix, root, args.members))
        asyncio.run(seed_accounts_and_bills(bench.prefix, branches))
        asyncio.run(
            seed_members(
                db_url(bench.prefix, "members"),
                branches,
                BRANCH_SIZE,
                bench.system.secrets().internal_secret,
            )
        )
        print(
            f"seeded {len(branches) * BRANCH_SIZE:,} members in {len(branches):,} branches "
            f"under {CITIES} cities in {time.perf_counter() - started:.0f} s",
            flush=True,
        )

        year = date.today().year
        bench.api.get(f"/orgs/{root}/assessment", params={"year": year})  # warm: pools, plans
        took = float("inf")
        for _ in range(3):  # best of three, as the bound
            started = time.perf_counter()
            report = bench.api.get(f"/orgs/{root}/assessment", params={"year": year})
            took = min(took, time.perf_counter() - started)
        report.raise_for_status()
        body = report.json()
        bound = asyncio.run(lower_bound(bench.prefix))
        usage = next(i for i in body["indicators"] if i["indicator"] == "system_usage")
        print(
            f"assessment of the province: {took:.2f} s, {len(body['indicators'])} figures, "
            f"{len(usage['children'])} cities each, unavailable {body['unavailable']}; "
            f"usage {usage['numerator']:,}/{usage['denominator']:,}"
        )
        print(
            f"  lower bound (identity's usage and fees' collection by hand, at once, best of 3): "
            f"{bound:.2f} s -> {took / bound:.2f}x"
        )

        members_api, gateway = pid_of(bench.system, "members-api"), pid_of(bench.system, "gateway")
        before = peak_rss_mib(members_api), peak_rss_mib(gateway)
        started = time.perf_counter()
        size = 0
        with httpx.stream(
            "GET", f"{bench.api.base_url}orgs/{root}/members/export",
            headers=dict(bench.api.headers), timeout=3600,
        ) as response:  # fmt: skip
            response.raise_for_status()
            for chunk in response.iter_bytes():
                size += len(chunk)
        took = time.perf_counter() - started
        after = peak_rss_mib(members_api), peak_rss_mib(gateway)
        copy_took, copy_size = asyncio.run(copy_bound(bench.prefix))
        rows = len(branches) * BRANCH_SIZE
        print(
            f"export of {rows:,} members: {took:.1f} s ({rows / took:,.0f} rows/s), "
            f"{size / 2**20:.1f} MiB .xlsx"
        )
        print(
            f"  peak RSS members-api {before[0]:.0f} -> {after[0]:.0f} MiB, "
            f"gateway {before[1]:.0f} -> {after[1]:.0f} MiB"
        )
        print(
            f"  lower bound COPY of the same rows: {copy_took:.1f} s "
            f"({copy_size / 2**20:.1f} MiB text) -> {took / copy_took:.1f}x"
        )


if __name__ == "__main__":
    main()
