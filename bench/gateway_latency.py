"""What the gateway adds to a request, and what every process weighs when idle.

Brings up its own copy of the system (throw-away databases, vhost and ports), then times
2,000 `GET /orgs/{id}` through the gateway and 2,000 straight to the org service (with the signed
caller header the gateway would add), one client, keep-alive, after a warm-up; prints p50/p99 of
both and the difference, then the resident memory (RSS) of every process after a quiet pause.

    .venv/bin/python bench/gateway_latency.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deploy.launcher import System, amqp_url_with_vhost, create_vhost, delete_vhost  # noqa: E402
from shared.caller import Caller, sign_caller  # noqa: E402

PASSWORD = "Bench-Mark-2026!"  # noqa: S105 - a throw-away installation


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(
    client: httpx.Client, path: str, n: int, headers: dict[str, str] | None = None
) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = client.get(path, headers=headers)
        out.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{path}: {r.status_code} {r.text[:200]}")
    return out


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


async def drop_databases(prefix: str) -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        for row in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}_%"
        ):
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    run = secrets.token_hex(3)
    prefix = f"bench_{run}"
    var_dir = Path(tempfile.mkdtemp(prefix="zhtj-bench-"))
    create_vhost(prefix)
    system = System(
        REPO,
        {
            "LEAGUE_DB_PREFIX": prefix,
            "LEAGUE_PORT_BASE": "30000",
            "LEAGUE_AMQP_URL": amqp_url_with_vhost(prefix),
            "LEAGUE_VAR_DIR": str(var_dir),
            "LEAGUE_ADMIN_USERNAME": "admin",
            "LEAGUE_ADMIN_PASSWORD": PASSWORD,
            "LEAGUE_LOG_LEVEL": "WARNING",
            # The benchmark measures routing and checks, not the per-account limiter.
            "GATEWAY_RATE_PER_SECOND": "1000000",
            "GATEWAY_RATE_BURST": "1000000",
        },
        output=var_dir / "system.log",
    )
    try:
        system.prepare()
        system.start_all()
        system.wait_ready(timeout=120)
        boot = system.bootstrap()
        gateway = httpx.Client(base_url=f"{system.gateway_url}/api/v1", timeout=30)
        for _ in range(300):
            if httpx.get(f"{system.gateway_url}/readyz").status_code == 200:
                break
            time.sleep(0.2)
        token = gateway.post(
            "/auth/login", json={"username": "admin", "password": PASSWORD}
        ).json()["access_token"]
        gateway.headers["Authorization"] = f"Bearer {token}"
        doc = gateway.post("/documents", files={"file": ("a.pdf", b"%PDF-1.4 bench")}).json()["id"]
        today = str(date.today())
        org = gateway.post(
            "/orgs",
            json={
                "parent_id": boot["root_org_id"],
                "name": "基准测试市委",
                "type": "committee",
                "founded_on": today,
                "approved_on": today,
                "leader_name": "测",
                "leader_phone": "13800138000",
                "approval_document_id": doc,
            },
        ).json()["id"]
        direct = httpx.Client(base_url=system.service_url("org"), timeout=30)
        root_admin = Caller(
            account_id=uuid.UUID(boot["account_id"]) if "account_id" in boot else None,
            role="admin",
            org_id=uuid.UUID(boot["root_org_id"]),
            username="admin",
        )
        secret = system.secrets().internal_secret

        def direct_headers() -> dict[str, str]:
            return sign_caller(root_admin, secret)

        timed(gateway, f"/orgs/{org}", args.warmup)
        timed(direct, f"/orgs/{org}", args.warmup, direct_headers())
        through = timed(gateway, f"/orgs/{org}", args.requests)
        # Signing is what the gateway does per request too; it is done once here to time the
        # service alone.
        headers = direct_headers()
        straight = timed(direct, f"/orgs/{org}", args.requests, headers)

        print(f"GET /orgs/{{id}}, {args.requests} requests each, one client, keep-alive")
        print(f"{'':16}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'req/s':>10}")
        for label, samples in (("via gateway", through), ("org directly", straight)):
            print(
                f"{label:16}{percentile(samples, 50):10.2f}{percentile(samples, 99):10.2f}"
                f"{statistics.mean(samples):10.2f}{1000 / statistics.mean(samples):10.0f}"
            )
        print(
            f"{'gateway adds':16}{percentile(through, 50) - percentile(straight, 50):10.2f}"
            f"{percentile(through, 99) - percentile(straight, 99):10.2f}"
            f"{statistics.mean(through) - statistics.mean(straight):10.2f}"
        )

        time.sleep(5)
        print("\nidle resident memory (RSS) per process")
        total = 0.0
        for name in system.process_names:
            mib = rss_mib(system.pid(name))
            if mib is not None:
                total += mib
                print(f"  {name:22}{mib:8.1f} MiB")
        print(f"  {'total':22}{total:8.1f} MiB")
    finally:
        system.shutdown()
        asyncio.run(drop_databases(prefix))
        delete_vhost(prefix)


if __name__ == "__main__":
    main()
