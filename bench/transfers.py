"""Transfers through the real system: a burst of transfer requests through the gateway beside a
bare endpoint doing one INSERT each, and the time from each in-approval's answer to the member
being in the new branch everywhere (the record, the account, the dues copy, the transfers copy).

Brings up a throw-away system as operators run it (spans exported over OTLP to a stand-in
collector, INFO logs), imports `--members` members into a branch of one county through the API,
waits until the transfers service's copy has them all, then:

1. sends one `POST /transfers` for each member to a branch of another county, `--concurrency`
   at a time, all at once (the lower bound: the same number of POSTs to
   bench/bare_endpoint.py --payments, one INSERT each, at the same concurrency);
2. for `--moves` of them, approves the out-step, then approves the in-step one by one at
   `--rate` a second, and polls the four databases until each member is in the new branch in
   all of them: the time from the approval's answer to the last of the four.

    .venv/bin/python bench/transfers.py [--members 1000] [--concurrency 1000] [--moves 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from common import (
    REPO,
    Bench,
    CpuMeter,
    background,
    profiled,
    running_system,
    system_groups,
    traced_as_operators_run,
)
from loadgen import Connection, percentile, prepare

from members.fakes import as_csv, people

PORT_BASE = 26000  # below the ephemeral range: a health probe cannot meet itself
BARE_PORT = PORT_BASE + 190
SINK_PORT = PORT_BASE + 191
# Where each copy says a member's branch is; one query a database, for all the members.
WHERE_IS = {
    "members": "SELECT id AS member FROM members WHERE branch_id = $1 AND id = ANY($2)",
    "identity": "SELECT member_id AS member FROM accounts WHERE org_id = $1 AND member_id = ANY($2)",
    "fees": "SELECT member_id AS member FROM fee_members WHERE branch_id = $1 AND member_id = ANY($2)",
    "transfers": "SELECT member_id AS member FROM transfer_members "
    "WHERE branch_id = $1 AND member_id = ANY($2)",
}


@dataclass
class Burst:
    label: str
    latencies_ms: list[float]
    seconds: float
    statuses: dict[str, int]  # "201", or "503 ops.db_unavailable" with the problem's code

    def line(self) -> str:
        return (
            f"{self.label:24}{len(self.latencies_ms):>9}{len(self.latencies_ms) / self.seconds:>9.0f}"
            f"{percentile(self.latencies_ms, 50):>9.1f}{percentile(self.latencies_ms, 99):>9.1f}"
            f"   {json.dumps(self.statuses)}"
        )


async def _burst(label: str, requests: list[tuple[str, int, bytes]], concurrency: int) -> Burst:
    """Every request at once over `concurrency` connections, each taking the next one waiting."""
    host, port = requests[0][0], requests[0][1]
    connections = [
        await Connection.open(host, port) for _ in range(min(concurrency, len(requests)))
    ]
    waiting = [raw for _, _, raw in reversed(requests)]
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def client(conn: Connection) -> None:
        while waiting:
            raw = waiting.pop()
            started = time.perf_counter()
            status, body = await conn.request(raw)
            latencies.append((time.perf_counter() - started) * 1000)
            key = str(status) if status < 400 else f"{status} {_code(body)}"
            statuses[key] = statuses.get(key, 0) + 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(c) for c in connections))
    finally:
        for conn in connections:
            conn.close()
    return Burst(label, latencies, time.perf_counter() - started, statuses)


def _code(body: bytes) -> str:
    try:
        return str(json.loads(body).get("code"))
    except ValueError:
        return "?"


def import_members(bench: Bench, branch: str, n: int) -> list[str]:
    ids: list[str] = []
    sheet = people(n, random.Random(n))
    for start in range(0, n, 5000):
        r = bench.api.post(
            f"/orgs/{branch}/members/import",
            files={"file": ("团员.csv", as_csv(sheet[start : start + 5000]))},
        )
        r.raise_for_status()
        ids += [m["id"] for m in r.json()["members"]]
    return ids


async def wait_copied(bench: Bench, branch: str, n: int) -> None:
    conn = await asyncpg.connect(bench.db_url("transfers"))
    try:
        for _ in range(1200):
            sql = "SELECT count(*) FROM transfer_members WHERE branch_id = $1"
            if await conn.fetchval(sql, uuid.UUID(branch)) >= n:
                return
            await asyncio.sleep(0.1)
        raise SystemExit("the transfers service never copied the members")
    finally:
        await conn.close()


async def moves(
    bench: Bench, transfers: dict[str, str], to_branch: str, rate: float
) -> list[float]:
    """In-approve each transfer at `rate` a second; for each, the ms from the answer to the
    member being in `to_branch` in every database of WHERE_IS."""
    conns = {svc: await asyncpg.connect(bench.db_url(svc)) for svc in WHERE_IS}
    approved_at: dict[uuid.UUID, float] = {}
    seen: dict[uuid.UUID, float] = {}
    members = [uuid.UUID(m) for m in transfers]
    target = uuid.UUID(to_branch)
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set() or len(seen) < len(approved_at):
            found = [
                {r["member"] for r in await conn.fetch(WHERE_IS[svc], target, members)}
                for svc, conn in conns.items()
            ]
            now = time.perf_counter()
            for member in set.intersection(*found):
                if member in approved_at and member not in seen:
                    seen[member] = now
            await asyncio.sleep(0.02)

    async with httpx.AsyncClient(
        base_url=str(bench.api.base_url), headers=dict(bench.api.headers), timeout=60
    ) as client:
        watcher = asyncio.create_task(watch())
        for member, transfer in transfers.items():
            due = time.perf_counter() + 1 / rate
            r = await client.post(f"/transfers/{transfer}/approve")
            if r.status_code != 200 or r.json()["status"] != "completed":
                raise SystemExit(f"in-approval failed: {r.status_code} {r.text[:200]}")
            approved_at[uuid.UUID(member)] = time.perf_counter()
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        done.set()
        await asyncio.wait_for(watcher, timeout=120)
    for conn in conns.values():
        await conn.close()
    return [(seen[m] - approved_at[m]) * 1000 for m in approved_at]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000, help="transfer requests in the burst")
    parser.add_argument("--concurrency", type=int, default=1000, help="connections at once")
    parser.add_argument("--moves", type=int, default=200, help="transfers taken to completion")
    parser.add_argument("--rate", type=float, default=10.0, help="in-approvals a second")
    parser.add_argument(
        "--profile", type=Path, help="py-spy profiles of transfers-api and the gateway here"
    )
    args = parser.parse_args()

    with (
        traced_as_operators_run(SINK_PORT) as tracing,
        running_system(PORT_BASE, **tracing) as bench,
    ):
        root = bench.boot["root_org_id"]
        county_a = bench.create_org(root, "甲县委")
        county_b = bench.create_org(root, "乙县委")
        branch_a = bench.create_org(county_a, "甲县基准团支部", "branch")
        branch_b = bench.create_org(county_b, "乙县基准团支部", "branch")
        members = import_members(bench, branch_a, args.members)
        asyncio.run(wait_copied(bench, branch_a, args.members))

        auth = {
            "Authorization": str(bench.api.headers["Authorization"]),
            "Content-Type": "application/json",
        }
        gateway = f"{bench.system.gateway_url}/api/v1"
        asked = [
            prepare(
                "POST",
                f"{gateway}/transfers",
                auth,
                json.dumps(
                    {"member_id": m, "to_org_id": branch_b, "reason": "employment"}
                ).encode(),
            )
            for m in members
        ]
        bare_argv = [sys.executable, str(REPO / "bench" / "bare_endpoint.py"), "--payments"]
        bare_argv += ["--dsn", bench.db_url("transfers"), "--port", str(BARE_PORT)]
        bare_url = f"http://127.0.0.1:{BARE_PORT}"
        bare = [
            prepare(
                "POST",
                f"{bare_url}/bills/{uuid.uuid4()}/payments",
                {"Content-Type": "application/json"},
                b'{"channel":"cash"}',
            )
            for _ in members
        ]
        with background(bare_argv, ready_url=f"{bare_url}/docs"):
            bare_burst = asyncio.run(_burst("bare FastAPI+INSERT", bare, args.concurrency))
        recorders = profiled(
            {
                name: (bench.system.pid(name), 6)
                for name in ("transfers-api", "gateway", "members-events")
            },
            args.profile,
        )
        meter = CpuMeter(lambda: system_groups(bench.system))
        burst = asyncio.run(_burst("POST /transfers", asked, args.concurrency))
        for recorder in recorders:
            recorder.wait()
        time.sleep(3)  # the events the requests sent are consumed: their CPU counts too
        cpu = {name: seconds * 1000 / len(asked) for name, seconds in meter.spent().items()}

        listed = bench.api.get(
            "/transfers", params={"org_id": branch_a, "status": "pending_out", "limit": 200}
        ).json()["items"]
        chosen = {t["member_id"]: t["id"] for t in listed[: args.moves]}
        for transfer in chosen.values():
            bench.api.post(f"/transfers/{transfer}/approve").raise_for_status()
        visible = asyncio.run(moves(bench, chosen, branch_b, args.rate))

    print(
        f"transfers, tracing exported over OTLP, INFO logs ({os.cpu_count()} cores); "
        f"{args.members} requests at once over {min(args.concurrency, args.members)} connections"
    )
    print(f"{'':24}{'requests':>9}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}   statuses")
    print(bare_burst.line())
    print(burst.line())
    parts = ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.items() if ms >= 0.05)
    print(f"CPU ms per request (and its events), by process: {parts}")
    print(
        f"\nfrom the in-approval's answer to the member in the new branch in members, identity, "
        f"fees and transfers ({len(visible)} transfers, {args.rate:.0f} approvals/s): "
        f"p50 {percentile(visible, 50):.0f} ms, p99 {percentile(visible, 99):.0f} ms, "
        f"max {max(visible):.0f} ms"
    )


if __name__ == "__main__":
    main()
