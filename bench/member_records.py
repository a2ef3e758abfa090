"""Members benchmarks: a 10,000-row .xlsx import through the gateway, and listing a subtree of
200,000 members (GET /orgs/{id}/members?recursive=true) through the gateway.

Brings up its own copy of the system as operators run it (INFO logs, spans exported over OTLP to
a stand-in collector). The 200,000 records are seeded straight into the members
database by bench/seed_members.py (valid, sealed like the service's own), under one county with
200 branches created through the API.

    .venv/bin/python bench/member_records.py [--import-rows 10000] [--members 200000] [--branches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid

import asyncpg
from common import running_system, traced_as_operators_run
from loadgen import percentile
from seed_members import seed

from members.fakes import as_xlsx, people


def timed_get(api, path: str, params: dict[str, object]) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    r = api.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    r.raise_for_status()
    return elapsed, r.json()


async def wait_for_accounts(db_url: str, expected: int, since: float, limit: float = 600) -> float:
    conn = await asyncpg.connect(db_url)
    try:
        while time.perf_counter() - since < limit:
            count = await conn.fetchval("SELECT count(*) FROM accounts WHERE role = 'member'")
            if count >= expected:
                return time.perf_counter() - since
            await asyncio.sleep(0.2)
        raise SystemExit(f"only {count} of {expected} accounts after {limit} s")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import-rows", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--branches", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(42)

    with (
        traced_as_operators_run(31000 + 191) as tracing,
        running_system(31000, **tracing) as bench,
    ):
        root = bench.boot["root_org_id"]
        city = bench.create_org(root, "基准市委")

        # --- import -----------------------------------------------------------------------
        branch = bench.create_org(city, "导入支部", "branch")
        content = as_xlsx(list(people(args.import_rows, rng)))
        started = time.perf_counter()
        r = bench.api.post(f"/orgs/{branch}/members/import", files={"file": ("团员.xlsx", content)})
        took = time.perf_counter() - started
        assert r.status_code == 200, r.text[:300]
        assert r.json()["imported"] == args.import_rows
        print(
            f"import of {args.import_rows} rows (.xlsx, {len(content) / 1e6:.1f} MB) through the gateway: "
            f"{took:.2f} s ({args.import_rows / took:,.0f} rows/s)"
        )
        # The accounts follow through events: member.created -> identity (one account and one
        # activation code each).
        opened = asyncio.run(wait_for_accounts(bench.db_url("identity"), args.import_rows, started))
        print(
            f"accounts opened for the {args.import_rows} imported members {opened:.1f} s after the upload began"
        )

        # --- a subtree of 200,000 -----------------------------------------------------------
        county = bench.create_org(city, "基准县委")
        paths = []
        for i in range(args.branches):
            branch_id = bench.create_org(county, f"第{i:03d}团支部", "branch")
            paths.append(
                [uuid.UUID(root), uuid.UUID(city), uuid.UUID(county), uuid.UUID(branch_id)]
            )
        started = time.perf_counter()
        seeded = asyncio.run(
            seed(
                bench.db_url("members"),
                paths,
                args.members // args.branches,
                bench.system.secrets().internal_secret,
            )
        )
        print(
            f"seeded {seeded:,} members under one county in {time.perf_counter() - started:.1f} s"
        )

        path = f"/orgs/{county}/members"
        for _ in range(20):  # warm-up
            timed_get(bench.api, path, {"recursive": "true"})
        first = [timed_get(bench.api, path, {"recursive": "true"})[0] for _ in range(args.requests)]
        walk, cursor = [], None
        for _ in range(args.requests):
            params: dict[str, object] = {"recursive": "true", "limit": 50}
            if cursor:
                params["cursor"] = cursor
            elapsed, body = timed_get(bench.api, path, params)
            walk.append(elapsed)
            cursor = body["next_cursor"]
        search = [
            timed_get(bench.api, path, {"recursive": "true", "q": name})[0]
            for name in ("王", "李", "张伟", "陈", "刘")
            for _ in range(args.requests // 5)
        ]
        print(
            f"\nGET {path.replace(county, '{county}')}?recursive=true over {seeded:,} members, via gateway"
        )
        print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
        for label, samples in (
            ("first page (50)", first),
            (f"cursor walk ({args.requests} pages)", walk),
            ("name search q=", search),
        ):
            print(
                f"{label:28}{percentile(samples, 50):10.2f}{percentile(samples, 99):10.2f}"
                f"{statistics.mean(samples):10.2f}"
            )


if __name__ == "__main__":
    main()
