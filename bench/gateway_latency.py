"""What the gateway adds to a request, and what every process weighs when idle.

Brings up its own copy of the system (throw-away databases, vhost and ports), then times
2,000 `GET /orgs/{id}` through the gateway and 2,000 straight to the org service (with the signed
caller header the gateway would add), one client, keep-alive, after a warm-up; prints p50/p99 of
both and the difference, then the resident memory (RSS) of every process after a quiet pause.

    .venv/bin/python bench/gateway_latency.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path

import httpx
from common import percentile, running_system

from shared.caller import Caller, sign_caller


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    with running_system(30000) as bench:
        system, boot, gateway = bench.system, bench.boot, bench.api
        org = bench.create_org(boot["root_org_id"], "基准测试市委")
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


if __name__ == "__main__":
    main()
