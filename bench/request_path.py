"""The request path in one run: a bare endpoint, the same read through a service, and through the
gateway; then what every process weighs when idle.

Brings up its own copy of the system (throw-away databases, vhost and ports) as an operator runs
it: INFO logs, and every span exported over OTLP (to a stand-in collector that discards them).
Beside it, the lower bound: FastAPI + one asyncpg pool answering the same `GET /orgs/{id}` with
one SELECT (bench/bare_endpoint.py). Each of the three is loaded by one client and by 32
concurrent clients (keep-alive, bench/loadgen.py), and the table prints p50/p99 and req/s, each
against the bare endpoint, then the targets. `--profile DIR` also records py-spy profiles (collapsed stacks)
of the gateway and the org API under the 32-client load (py-spy must be on PATH).

    .venv/bin/python bench/request_path.py [--requests 2000] [--profile /tmp/prof]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from common import REPO, CpuMeter, background, profiled, running_system
from loadgen import Figures, load

from shared.caller import Caller, sign_caller

CONCURRENT = 32
ROUNDS = 3
PORT_BASE = 31000  # below the ephemeral range: a health probe cannot meet itself
BARE_PORT = PORT_BASE + 190
SINK_PORT = PORT_BASE + 191


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    with contextlib.suppress(FileNotFoundError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def interleaved(
    targets: list[tuple[str, str, Callable[[], dict[str, str]]]],
    *,
    clients: int,
    requests: int,
    around_gateway: Callable[[], list[subprocess.Popen[bytes]]] | None = None,
    processes: dict[str, list[int]] | None = None,
    cpu: dict[str, dict[str, float]] | None = None,
) -> dict[str, Figures]:
    """Each target loaded ROUNDS times, in turns; one Figures per target over all its rounds.
    With `processes` and `cpu`: the CPU seconds each named process spent during each target's
    rounds, summed into `cpu[label]`."""
    merged: dict[str, Figures] = {}
    for round_number in range(ROUNDS):
        for label, url, headers in targets:
            last = round_number == ROUNDS - 1
            recorders = around_gateway() if around_gateway and last and "gateway" in label else []
            meter = CpuMeter(lambda: processes or {})
            figures = load(label, url, headers=headers(), clients=clients, requests=requests)
            if cpu is not None:
                for name, seconds in meter.spent().items():
                    cpu.setdefault(label, {}).setdefault(name, 0.0)
                    cpu[label][name] += seconds
            for recorder in recorders:
                recorder.wait()
            if label in merged:
                merged[label].latencies_ms.extend(figures.latencies_ms)
                merged[label].seconds += figures.seconds
            else:
                merged[label] = figures
    return merged


def row(figures: Figures, bare: Figures) -> str:
    return (
        f"{figures.label:22}{figures.clients:>8}{figures.p50:9.2f}{figures.p99:9.2f}"
        f"{figures.rate:9.0f}{figures.p50 / bare.p50:10.2f}{figures.rate / bare.rate:10.0%}"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per one-client run")
    parser.add_argument("--concurrent-requests", type=int, default=6000, help="per 32-client run")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles here")
    args = parser.parse_args()

    python = sys.executable
    sink = [python, str(REPO / "bench" / "otlp_sink.py"), "--port", str(SINK_PORT)]
    with (
        background(sink),
        running_system(
            PORT_BASE,
            LEAGUE_LOG_LEVEL="INFO",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{SINK_PORT}",
        ) as bench,
    ):
        system, boot = bench.system, bench.boot
        org = bench.create_org(boot["root_org_id"], "基准测试市委")
        bare_argv = [python, str(REPO / "bench" / "bare_endpoint.py")]
        bare_argv += ["--dsn", bench.db_url("org"), "--port", str(BARE_PORT)]
        bare_url = f"http://127.0.0.1:{BARE_PORT}"
        with background(bare_argv, ready_url=f"{bare_url}/docs"):
            root_admin = Caller(
                account_id=uuid.UUID(boot["account_id"]) if "account_id" in boot else None,
                role="admin",
                org_id=uuid.UUID(boot["root_org_id"]),
                username="admin",
            )
            secret = system.secrets().internal_secret
            token = str(bench.api.headers["Authorization"])
            targets: list[tuple[str, str, Callable[[], dict[str, str]]]] = [
                ("bare FastAPI+asyncpg", f"{bare_url}/orgs/{org}", dict),
                # Signed once per run, as the gateway signs once per request.
                (
                    "org service",
                    f"{system.service_url('org')}/orgs/{org}",
                    lambda: sign_caller(root_admin, secret),
                ),
                (
                    "through the gateway",
                    f"{system.gateway_url}/api/v1/orgs/{org}",
                    lambda: {"Authorization": token},
                ),
            ]
            # Rounds take turns (bare, service, gateway, bare, ...) and each line below merges
            # its rounds: this machine is shared, and a slow minute then slows all three alike
            # instead of whichever ran in it.
            single = interleaved(targets, clients=1, requests=args.requests // ROUNDS)
            cpu: dict[str, dict[str, float]] = {}
            many = interleaved(
                targets,
                clients=CONCURRENT,
                requests=args.concurrent_requests // ROUNDS,
                processes={
                    name: [pid]
                    for name in ("gateway", "org-api")
                    if (pid := system.pid(name)) is not None
                },
                cpu=cpu,
                # The gateway's round is where both the gateway and the org API are busy.
                around_gateway=lambda: profiled(
                    {"gateway": (system.pid("gateway"), 4), "org-api": (system.pid("org-api"), 4)},
                    args.profile,
                ),
            )

        bare1, svc1, gw1 = single.values()
        bare32, svc32, gw32 = many.values()
        print(f"GET /orgs/{{id}}: tracing exported over OTLP, INFO logs ({os.cpu_count()} cores)")
        print(
            f"{'':22}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'p50/bare':>10}{'rate/bare':>10}"
        )
        for figures in (bare1, svc1, gw1):
            print(row(figures, bare1))
        for figures in (bare32, svc32, gw32):
            print(row(figures, bare32))
        print(f"\nCPU ms per request at {CONCURRENT} clients, by process:")
        for figures in (svc32, gw32):
            spent = cpu.get(figures.label, {})
            parts = ", ".join(
                f"{name} {seconds * 1000 / len(figures.latencies_ms):.2f}"
                for name, seconds in spent.items()
            )
            print(f"  {figures.label:22}{parts}")
        adds50, adds99 = gw1.p50 - svc1.p50, gw1.p99 - svc1.p99
        print(f"\nthe gateway adds (one client): p50 {adds50:.2f} ms, p99 {adds99:.2f} ms")
        print("targets:")
        print(f"  gateway adds <= 1 ms at p50 ({adds50:.2f}): {verdict(adds50 <= 1)}")
        print(f"  gateway adds <= 3 ms at p99 ({adds99:.2f}): {verdict(adds99 <= 3)}")
        ratio = svc1.p50 / bare1.p50
        print(f"  service read <= 2x bare at p50 ({ratio:.2f}x): {verdict(ratio <= 2)}")
        share = gw32.rate / bare32.rate
        print(
            f"  gateway at {CONCURRENT} clients >= 40% of bare req/s ({share:.0%}): {verdict(share >= 0.4)}"
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
        if args.profile:
            print(f"\nprofiles: {args.profile}/gateway.folded, {args.profile}/org-api.folded")


if __name__ == "__main__":
    main()
