"""The payment peak: cash payments through the gateway under an open-model load, beside a bare
endpoint doing one INSERT, at the same rates in the same run.

Brings up a throw-away system as operators run it (spans exported over OTLP to a stand-in
collector, INFO logs; `--api-workers N` fees API processes, default 1: on 2 cores a second one
only adds contention; `--untraced` leaves the spans unexported, to tell what tracing costs, but
the targets are judged traced), creates a branch through the API, seeds its bills in the fees
database (one INSERT ... SELECT), then for each rate sends that many
`POST /bills/{id}/payments {"channel": "cash"}` a second for `--seconds`, each to its own bill,
whatever the answers took (open model: latency counts from when a request was due, so a server
falling behind shows as queueing, not as a slower client). Each step starts with the relay's
backlog sent and the database checkpointed, so that it does not pay for the one before. The
lower bound gets the same requests: FastAPI + asyncpg, one INSERT each
(bench/bare_endpoint.py --payments). Prints achieved rate, p50/p99 and errors for each, the
highest rate each held with p99 <= 50 ms, and the targets. After the rates given, each side's
ceiling is searched for (up by half at a time until a rate fails, then halving the gap to a
tenth): the target compares ceilings, and a bare endpoint that held every rate given says only
that its own is higher.

    .venv/bin/python bench/payments.py [--rates 100,300,500] [--seconds 30] [--no-ceilings]
        [--api-workers 1] [--untraced]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from common import (
    REPO,
    CpuMeter,
    background,
    machine_cpu_seconds,
    postgres_pids,
    process_tree,
    profiled,
    running_system,
    settle,
    traced_as_operators_run,
)
from loadgen import OpenFigures, open_load, prepare

from deploy.launcher import System

PORT_BASE = 30000  # below the ephemeral range: a health probe cannot meet itself
BARE_PORT = PORT_BASE + 190
SINK_PORT = PORT_BASE + 191
P99_LIMIT_MS = 50.0
# Sent at the run's rate before it is measured: connections opened, caches and pools filled.
WARMUP_SECONDS = 3.0
BODY = b'{"channel":"cash"}'


async def seed_bills(db_url: str, branch: str, bills: int) -> list[uuid.UUID]:
    """`bills` due bills of this month for as many new members of `branch`, in the fees
    database."""
    conn = await asyncpg.connect(db_url)
    try:
        for _ in range(300):  # the fees service's copy of the tree learns the branch by event
            if await conn.fetchval("SELECT 1 FROM org_replica WHERE id = $1", uuid.UUID(branch)):
                break
            await asyncio.sleep(0.1)
        else:
            raise SystemExit("the fees service never learnt of the branch")
        rows = await conn.fetch(
            "WITH members AS ("
            " INSERT INTO fee_members (member_id, branch_id, name, status, joined_on)"
            " SELECT gen_random_uuid(), $1, '团员', 'active', DATE '2020-05-04'"
            " FROM generate_series(1, $2) RETURNING member_id, branch_id)"
            " INSERT INTO bills (member_id, branch_id, month, amount_fen)"
            " SELECT member_id, branch_id, date_trunc('month', now())::date, 1500 FROM members"
            " RETURNING id",
            uuid.UUID(branch),
            bills,
        )
        await conn.execute("ANALYZE bills; ANALYZE fee_members")
        return [row["id"] for row in rows]
    finally:
        await conn.close()


def best_rate(runs: list[OpenFigures]) -> float:
    """The highest offered rate held with p99 <= 50 ms and no error (0 if none was)."""
    held = [r.offered for r in runs if not r.errors and r.p99 <= P99_LIMIT_MS]
    return max(held, default=0.0)


def row(figures: OpenFigures) -> str:
    return (
        f"{figures.label:22}{figures.offered:>9.0f}{figures.rate:>10.0f}{figures.p50:>9.1f}"
        f"{figures.p99:>9.1f}{figures.errors:>8}"
    )


# After the ladder, each side's ceiling is searched for: up by half from its highest rate
# held until one fails, then halving the gap while it is over a tenth of the rate held.
CEILING_STEPS = 7


def next_ceiling_probe(held: float, failed: float | None) -> float | None:
    """The next rate to try between the highest held and the lowest failed above it (None: the
    ceiling is known to a tenth)."""
    if failed is None:
        return round(held * 1.5 / 10) * 10
    if failed - held <= held / 10:
        return None
    return round((held + failed) / 2 / 10) * 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,300,500", help="requests a second, in turn")
    parser.add_argument("--seconds", type=float, default=30.0, help="at each rate")
    parser.add_argument(
        "--no-ceilings",
        action="store_true",
        help="only the rates given: do not search for each side's highest rate within 50 ms",
    )
    parser.add_argument("--api-workers", type=int, default=1, help="FEES_API_WORKERS")
    parser.add_argument(
        "--profile", type=Path, help="py-spy profiles of the first gateway run here"
    )
    parser.add_argument(
        "--untraced",
        action="store_true",
        help="spans not exported, to tell what tracing costs (the targets are judged traced)",
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    with (
        traced_as_operators_run(SINK_PORT, traced=not args.untraced) as tracing,
        running_system(PORT_BASE, FEES_API_WORKERS=str(args.api_workers), **tracing) as bench,
    ):
        branch = bench.create_org(bench.boot["root_org_id"], "基准测试团支部", "branch")
        fees_db = bench.db_url("fees")
        bare_argv = [sys.executable, str(REPO / "bench" / "bare_endpoint.py"), "--payments"]
        bare_argv += ["--dsn", fees_db, "--port", str(BARE_PORT)]
        bare_url = f"http://127.0.0.1:{BARE_PORT}"
        gateway = f"{bench.system.gateway_url}/api/v1"
        auth = {
            "Authorization": str(bench.api.headers["Authorization"]),
            "Content-Type": "application/json",
        }
        sides = {
            "bare FastAPI+INSERT": (bare_url, {"Content-Type": "application/json"}),
            "through the gateway": (gateway, auth),
        }
        runs: dict[str, list[OpenFigures]] = {label: [] for label in sides}
        offered_through_gateway = 0  # warm-ups included: they pay bills too
        # CPU milliseconds per request, by process group, for each run.
        cpu: dict[str, list[dict[str, float]]] = {label: [] for label in sides}
        with background(bare_argv, ready_url=f"{bare_url}/docs") as bare_app:

            def measure(label: str, rate: float, profile: Path | None = None) -> OpenFigures:
                """One step: WARMUP_SECONDS at `rate` not counted, then `--seconds` counted,
                each request paying a bill of its own, seeded before the step."""
                nonlocal offered_through_gateway
                warmup = int(rate * WARMUP_SECONDS)
                count = warmup + int(rate * args.seconds)
                bills = asyncio.run(seed_bills(fees_db, branch, count))
                asyncio.run(quiesce(fees_db))
                settle()  # the seeding's writes are not the step's
                base, headers = sides[label]
                if label == "through the gateway":
                    offered_through_gateway += count
                prepared = [
                    prepare("POST", f"{base}/bills/{bill}/payments", headers, BODY)
                    for bill in bills
                ]
                host, port = prepared[0][0], prepared[0][1]
                recorders = profiled(processes_of(bench.system, args.api_workers), profile)
                meter = CpuMeter(lambda: groups_of(bench.system, bare_app.pid))
                machine_before = machine_cpu_seconds()
                figures = open_load(
                    label, host, port, [raw for _, _, raw in prepared], rate, warmup=warmup
                )
                cpu[label].append(
                    {name: ms * 1000 / count for name, ms in meter.spent().items()}
                    | {"whole machine": (machine_cpu_seconds() - machine_before) * 1000 / count}
                )
                for recorder in recorders:
                    recorder.wait()
                runs[label].append(figures)
                time.sleep(2)  # let the last answers' spans and logs go out
                return figures

            for rate in rates:  # the same rate against both, one after the other
                for label in sides:
                    first_gateway_run = label == "through the gateway" and rate == rates[0]
                    measure(label, rate, args.profile if first_gateway_run else None)
            if not args.no_ceilings:
                for label in sides:
                    for _ in range(CEILING_STEPS):
                        held = best_rate(runs[label])
                        failed = min(
                            (r.offered for r in runs[label] if r.offered > held), default=None
                        )
                        probe = next_ceiling_probe(held or rates[0] / 2, failed)
                        if probe is None or probe < 10:
                            break
                        measure(label, probe)

        print(
            f"cash payments, open model, {args.seconds:.0f} s a rate; "
            + ("spans NOT exported" if args.untraced else "tracing exported over OTLP")
            + f", INFO logs; {args.api_workers} fees-api processes ({os.cpu_count()} cores)"
        )
        print(f"{'':22}{'offered':>9}{'achieved':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for label_runs in runs.values():
            for figures in label_runs:
                print(row(figures))
        print("\nCPU ms per request, by process, and the whole machine's (all its processes)")
        for label, per_run in cpu.items():
            for figures, spent in zip(runs[label], per_run, strict=True):
                parts = ", ".join(f"{name} {ms:.2f}" for name, ms in spent.items() if ms >= 0.05)
                print(f"  {label} at {figures.offered:.0f}/s: {parts}")
        bare_best = best_rate(runs["bare FastAPI+INSERT"])
        gateway_best = best_rate(runs["through the gateway"])
        bare_ceiling_known = any(r.offered > bare_best for r in runs["bare FastAPI+INSERT"])
        print(
            f"\nhighest rate with p99 <= {P99_LIMIT_MS:.0f} ms and no error: bare {bare_best:.0f}/s,"
            f" gateway {gateway_best:.0f}/s"
            + ("" if bare_ceiling_known else " (bare held every rate tried: its ceiling is higher)")
        )
        at_300 = next((r for r in runs["through the gateway"] if r.offered == 300), None)
        print("targets:")
        if at_300 is not None:
            ok = at_300.p99 <= P99_LIMIT_MS and at_300.errors == 0
            print(
                f"  p99 <= 50 ms at 300/s with zero errors (p99 {at_300.p99:.1f} ms, "
                f"{at_300.errors} errors): {'met' if ok else 'NOT met'}"
            )
        share = gateway_best / bare_best if bare_best else 0.0
        print(
            f"  highest rate within 50 ms >= 40% of the bare endpoint's ({share:.0%}"
            + ("" if bare_ceiling_known else ", an upper bound")
            + f"): {'met' if share >= 0.4 and bare_ceiling_known else 'NOT met'}"
        )
        # Money check over every payment sent (warm-ups too): each one answered 201 paid its
        # bill; one without a known outcome (no answer in time, a 5xx) may have; nothing else.
        paid = asyncio.run(count_paid(fees_db))
        succeeded = sum(r.succeeded_all for r in runs["through the gateway"])
        unknown = sum(r.unknown_all for r in runs["through the gateway"])
        verdict = "agree" if succeeded <= paid <= succeeded + unknown else "DO NOT AGREE"
        print(
            f"\npaid bills {paid}; payments offered through the gateway {offered_through_gateway} "
            f"(warm-ups included; beyond 1,000 in flight one is not sent): {succeeded} answered "
            f"201, {unknown} without a known outcome (paid or not): {verdict}"
        )


def groups_of(system: System, bare: int) -> dict[str, list[int]]:
    """Where a payment's CPU goes: the gateway, the fees API (all its processes), the fees
    events process (relay), PostgreSQL (all its backends), the bare app, this load generator."""
    return {
        "gateway": process_tree(system.pid("gateway")),
        "fees-api": process_tree(system.pid("fees-api")),
        "fees-events": process_tree(system.pid("fees-events")),
        "postgres": postgres_pids(),
        "bare app": [bare],
        "load generator": [os.getpid()],
    }


def processes_of(system: System, api_workers: int) -> dict[str, tuple[int | None, int]]:
    """What a payment passes through, for py-spy: the gateway, each fees API process (the
    children of uvicorn's supervisor when there are several) and the fees relay."""
    api = system.pid("fees-api")
    workers: list[int | None] = [api]
    if api is not None and api_workers > 1:
        children = Path(f"/proc/{api}/task/{api}/children").read_text().split()
        workers = [int(pid) for pid in children]
    seconds = 8
    return {
        "gateway": (system.pid("gateway"), seconds),
        "fees-events": (system.pid("fees-events"), seconds),
        **{f"fees-api-{n}": (pid, seconds) for n, pid in enumerate(workers, start=1)},
    }


async def quiesce(db_url: str) -> None:
    """What one step leaves must not land on the next: the relay's backlog (an overloaded step
    leaves thousands of events unsent, more than settle()'s 30 s may drain) and the WAL since the
    last checkpoint (a checkpoint forced by WAL volume mid-step slows every commit while it
    writes). Waits for the outbox to empty, then checkpoints; both sides get the same."""
    conn = await asyncpg.connect(db_url)
    try:
        for _ in range(240):  # two minutes at most: a relay that is away does not stop the run
            if not await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
                break
            await asyncio.sleep(0.5)
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def count_paid(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM bills WHERE status = 'paid'"))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
