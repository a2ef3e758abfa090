"""Activities at a city's scale: publishing to an audience of N members (default 100,000), and
the unread count of an inbox holding 10,000 notifications, each beside its lower bound measured
in the same run.

Brings up a throw-away system (spans exported over OTLP to a stand-in collector, as operators
run it), creates a city through the gateway, seeds the activities service's copies with N
members in N/20 branches under it (COPY, as bench/month_start.py seeds the fees copy), then:

1. the lower bound: one INSERT ... SELECT of a notification for every member of the copy;
2. POST /orgs/{city}/activities through the gateway, and the time until its fan-out is done
   (the answer's own time apart), followed on GET /activities/{id};
3. 10,000 notifications in the root's inbox, then 500 GET /me/notifications/unread-count and
   500 GET /me (identity's account with the count) through the gateway, one client, beside
   the bare `SELECT count(*)` of the same rows on one connection.

    .venv/bin/python bench/activities.py [--members 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
from common import running_system, traced_as_operators_run
from loadgen import load, percentile

PORT_BASE = 28000  # below the ephemeral range: a health probe cannot meet itself
SINK_PORT = PORT_BASE + 191
BRANCH_SIZE = 20
INBOX = 10_000
BOUND_SQL = (
    "INSERT INTO notifications (recipient_id, recipient_kind, kind, title, body) "
    "SELECT member_id, 'member', 'bench.bound', '新活动', '下限' FROM activity_members "
    "WHERE status = 'active'"
)
UNREAD_SQL = "SELECT count(*) FROM notifications WHERE recipient_id = $1 AND read_at IS NULL"


async def seed(db_url: str, city_path: list[uuid.UUID], members: int) -> None:
    branches = [uuid.uuid4() for _ in range(max(1, members // BRANCH_SIZE))]
    conn = await asyncpg.connect(db_url)
    try:
        await conn.copy_records_to_table(
            "org_replica",
            columns=["id", "parent_id", "path", "name", "org_type", "status", "revision"],
            records=(
                (b, city_path[-1], [*city_path, b], f"支部{n}", "branch", "active", 1)
                for n, b in enumerate(branches)
            ),
        )
        await conn.copy_records_to_table(
            "activity_members",
            columns=["member_id", "branch_id", "name", "status", "joined_on"],
            records=(
                (uuid.uuid4(), branches[i % len(branches)], "团员", "active", date(2020, 5, 4))
                for i in range(members)
            ),
        )
        await conn.execute("ANALYZE org_replica; ANALYZE activity_members")
    finally:
        await conn.close()


async def lower_bound(db_url: str) -> tuple[int, float]:
    conn = await asyncpg.connect(db_url)
    try:
        started = time.perf_counter()
        status = await conn.execute(BOUND_SQL)
        took = time.perf_counter() - started
        await conn.execute("DELETE FROM notifications WHERE kind = 'bench.bound'")
        await conn.execute("VACUUM ANALYZE notifications")
        return int(status.split()[-1]), took
    finally:
        await conn.close()


async def fill_inbox(db_url: str, recipient: uuid.UUID) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO notifications (recipient_id, recipient_kind, kind, title, body) "
            "SELECT $1, 'org', 'bench.inbox', '通知' || n, '正文' FROM generate_series(1, $2) n",
            recipient,
            INBOX,
        )
        await conn.execute("VACUUM ANALYZE notifications")
    finally:
        await conn.close()


async def bare_count(db_url: str, recipient: uuid.UUID, n: int = 500) -> list[float]:
    conn = await asyncpg.connect(db_url)
    try:
        for _ in range(50):
            await conn.fetchval(UNREAD_SQL, recipient)
        took: list[float] = []
        for _ in range(n):
            started = time.perf_counter()
            await conn.fetchval(UNREAD_SQL, recipient)
            took.append((time.perf_counter() - started) * 1000)
        return took
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args()

    with (
        traced_as_operators_run(SINK_PORT) as tracing,
        running_system(PORT_BASE, **tracing) as bench,
    ):
        db_url = bench.db_url("activities")
        root = uuid.UUID(bench.boot["root_org_id"])
        city = uuid.UUID(bench.create_org(str(root), "基准测试市委"))
        # The city reaches the activities service by its event before anything is published.
        for _ in range(300):
            if bench.api.get(f"/orgs/{city}/activity-statistics?year=2026").status_code == 200:
                break
            time.sleep(0.2)
        started = time.perf_counter()
        asyncio.run(seed(db_url, [root, city], args.members))
        seeded = time.perf_counter() - started
        bound_rows, bound = asyncio.run(lower_bound(db_url))

        starts = datetime.now(UTC) + timedelta(days=3)
        asked = time.perf_counter()
        published = bench.api.post(
            f"/orgs/{city}/activities",
            json={
                "title": "基准测试活动",
                "theme": "基准",
                "place": "市青少年宫",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=2)).isoformat(),
            },
        )
        answered = time.perf_counter() - asked
        published.raise_for_status()
        activity = published.json()["id"]
        while True:
            progress = bench.api.get(f"/activities/{activity}").json()["notifications"]
            if progress["finished_at"]:
                break
            time.sleep(0.1)
        fanned = time.perf_counter() - asked

        asyncio.run(fill_inbox(db_url, root))
        headers = {"Authorization": bench.api.headers["Authorization"]}
        gateway = bench.system.gateway_url + "/api/v1"
        unread = load(
            "unread count",
            f"{gateway}/me/notifications/unread-count",
            headers=headers,
            requests=500,
            warmup=50,
        )
        me = load("GET /me", f"{gateway}/me", headers=headers, requests=500, warmup=50)
        bare = asyncio.run(bare_count(db_url, root))

    print(
        f"activities: publishing to {args.members:,} members in "
        f"{args.members // BRANCH_SIZE:,} branches ({os.cpu_count()} cores; seeded in "
        f"{seeded:.1f} s)"
    )
    print(f"  {'':44}{'rows':>10}{'time':>10}{'rows/s':>11}{'vs bound':>10}")
    print(
        f"  {'bound: one INSERT ... SELECT':44}{bound_rows:>10,}{bound:9.2f}s{bound_rows / bound:>11,.0f}"
    )
    written = progress["notified"]
    print(
        f"  {'publish -> last notification written':44}{written:>10,}{fanned:9.2f}s"
        f"{written / fanned:>11,.0f}{fanned / bound:>9.2f}x"
    )
    print(f"  the publish answered in {answered * 1000:.0f} ms; {progress['chunks_total']} chunks")
    print(f"inbox of {INBOX:,} unread notifications, one client:")
    print(f"  {'':44}{'p50 ms':>10}{'p99 ms':>10}")
    print(
        f"  {'bare SELECT count(*) (asyncpg)':44}{percentile(bare, 50):>10.2f}{percentile(bare, 99):>10.2f}"
    )
    for figures in (unread, me):
        label = f"{figures.label} through the gateway"
        print(f"  {label:44}{figures.p50:>10.2f}{figures.p99:>10.2f}")


if __name__ == "__main__":
    main()
