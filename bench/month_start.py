"""The month start at province scale: bills written by the fees-worker processes, beside the
lower bound of one hand-written INSERT ... SELECT producing the same bills in the same database.

Brings up a throw-away system (`LEAGUE_FEES_WORKERS=2`, spans exported over OTLP to a stand-in
collector, INFO logs, as operators run it), seeds the fees service's copy of N
members in N/20 branches with fee profiles (COPY, as bench/seed_members.py does), then:

1. the lower bound: one INSERT ... SELECT of every member's bill for a month, timed alone, then
   rolled back (and vacuumed away);
2. the system with one worker: POST /fee-cycles through the gateway for that month until the
   cycle is done;
3. the same two steps for the next month, with two workers;

so that each bound writes the same bills into the same table as the system after it (the months
before included), and prints bills/s of each with its ratio to its bound, and when the relay
had published the last fee.bills_generated (nothing consumes it yet).

    .venv/bin/python bench/month_start.py [--members 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import date

import asyncpg
from common import running_system, traced_as_operators_run

PORT_BASE = 32000  # below the ephemeral range: a health probe cannot meet itself
SINK_PORT = PORT_BASE + 191
BRANCH_SIZE = 20
# The amount is the profile's, kept beside the member (fees.db.FeeMember) as the system reads it.
BILLS_SQL = (
    "INSERT INTO bills (member_id, branch_id, month, amount_fen) "
    "SELECT m.member_id, m.branch_id, $1, m.monthly_fee_fen FROM fee_members m "
    "WHERE m.status = 'active' AND m.monthly_fee_fen IS NOT NULL "
    "ON CONFLICT (member_id, month) DO NOTHING"
)


async def seed(db_url: str, members: int) -> None:
    rng = random.Random(20261203)
    branches = [uuid.uuid4() for _ in range(max(1, members // BRANCH_SIZE))]
    ids = [uuid.uuid4() for _ in range(members)]
    amounts = [rng.choice((1_500, 3_000, 7_500, 20_000)) for _ in ids]
    conn = await asyncpg.connect(db_url)
    try:
        await conn.copy_records_to_table(
            "fee_members",
            columns=[
                "member_id",
                "branch_id",
                "name",
                "status",
                "joined_on",
                "copied_at",
                "monthly_fee_fen",
            ],
            records=(
                (
                    m,
                    branches[i % len(branches)],
                    "团员",
                    "active",
                    date(2020, 5, 4),
                    date(2000, 1, 1),
                    amounts[i],
                )
                for i, m in enumerate(ids)
            ),
        )
        await conn.copy_records_to_table(
            "fee_profiles",
            columns=["member_id", "category", "monthly_fee_fen", "rate_table"],
            records=(
                (m, "salaried", amount, "regulation")
                for m, amount in zip(ids, amounts, strict=True)
            ),
        )
        await conn.execute("ANALYZE fee_members; ANALYZE fee_profiles")
    finally:
        await conn.close()


async def lower_bound(db_url: str, month: date) -> tuple[int, float]:
    """The month's bills by one INSERT ... SELECT, timed, then rolled back and vacuumed away: the
    system then writes the same bills into the table as the bound found it (the bills of the
    months before included), so each ratio compares like with like."""
    conn = await asyncpg.connect(db_url)
    try:
        written = conn.transaction()
        await written.start()
        try:
            started = time.perf_counter()
            status = await conn.execute(BILLS_SQL, month)
            took = time.perf_counter() - started
        finally:
            await written.rollback()
        await conn.execute("VACUUM bills")
        return int(status.split()[-1]), took
    finally:
        await conn.close()


async def cycle_figures(db_url: str, month: date) -> tuple[int, float, float]:
    """Bills, seconds from opening to the last chunk, seconds to the last fee.bills_generated
    published, all by the database's clock."""
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            "SELECT bills, extract(epoch FROM finished_at - started_at) AS took, started_at "
            "FROM fee_cycles WHERE month = $1",
            month,
        )
        published = await conn.fetchval(
            "SELECT extract(epoch FROM max(sent_at) - $2) FROM outbox "
            "WHERE type = 'fee.bills_generated' AND envelope->'data'->>'month' = $1",
            f"{month:%Y-%m}",
            row["started_at"],
        )
        return int(row["bills"]), float(row["took"]), float(published or 0)
    finally:
        await conn.close()


def open_and_wait(api, month: date, limit: float = 1800) -> None:  # type: ignore[no-untyped-def]
    label = f"{month:%Y-%m}"
    r = api.post("/fee-cycles", json={"month": label})
    r.raise_for_status()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = api.get(f"/fee-cycles/{label}").json()
        if state["status"] == "done":
            return
        time.sleep(0.5)
    raise SystemExit(f"the cycle of {label} was not done after {limit} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()

    with (
        traced_as_operators_run(SINK_PORT) as tracing,
        running_system(PORT_BASE, LEAGUE_FEES_WORKERS="2", **tracing) as bench,
    ):
        db_url = bench.db_url("fees")
        started = time.perf_counter()
        asyncio.run(seed(db_url, args.members))
        seeded = time.perf_counter() - started

        bench.system.stop("fees-worker-2")
        bound_one = asyncio.run(lower_bound(db_url, date(2001, 2, 1)))
        open_and_wait(bench.api, date(2001, 2, 1))
        one = asyncio.run(cycle_figures(db_url, date(2001, 2, 1)))
        bench.system.start("fees-worker-2")
        bench.system.wait_ready(names=["fees-worker-2"])
        bound_two = asyncio.run(lower_bound(db_url, date(2001, 3, 1)))
        open_and_wait(bench.api, date(2001, 3, 1))
        two = asyncio.run(cycle_figures(db_url, date(2001, 3, 1)))

    print(
        f"month start, {args.members:,} members in {args.members // BRANCH_SIZE:,} branches "
        f"({os.cpu_count()} cores; seeded in {seeded:.1f} s)"
    )
    print(f"  {'':40}{'bills':>10}{'time':>10}{'bills/s':>11}{'vs bound':>10}")
    for label, (bound_bills, bound), (bills, took, _) in (
        ("1 fees-worker", bound_one, one),
        ("2 fees-workers", bound_two, two),
    ):
        print(
            f"  {'bound: one INSERT ... SELECT':40}{bound_bills:>10,}{bound:9.2f}s"
            f"{bound_bills / bound:>11,.0f}"
        )
        print(
            f"  {'system, ' + label:40}{bills:>10,}{took:9.2f}s{bills / took:>11,.0f}"
            f"{took / bound:>9.2f}x"
        )
    print(
        f"  last fee.bills_generated published: {one[2]:.2f} s (1 worker), "
        f"{two[2]:.2f} s (2 workers) after the cycle opened"
    )
    print("target: the system within 1.5x of the bound")


if __name__ == "__main__":
    main()
