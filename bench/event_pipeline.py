"""The event pipeline in one run, each stage beside the bound the broker or database sets.

1. the raw aio-pika bounds: N persistent messages published with confirms, a window in flight,
   and N consumed and acked one by one;
2. the outbox relay draining N rows (one INSERT wrote them, as an import does);
3. a batched consumer (BatchingInbox: inbox rows and an effect) draining N events;
4. unless --no-system: 10,000-row imports through the gateway of a throw-away system (three, each
   beside its lower bound in turn: reading the same file with openpyxl plus one COPY of the same
   rows; medians compared), and the time from each answer to the last member account.

Stages 1-3 run on a throw-away vhost and database with the production topology (quorum queues,
dead-letter and retry queues). Tracing and INFO logs are on as operators run them (spans
exported over OTLP to a stand-in collector, bench/otlp_sink.py), in the bench and in the system.

    .venv/bin/python bench/event_pipeline.py [--events 20000] [--import-rows 10000]
        [--import-rounds 3] [--no-system]
        [--profile DIR]   (py-spy on PATH)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from pathlib import Path
from statistics import median

import aio_pika
import asyncpg
import uvloop
from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

REPO = Path(__file__).resolve().parents[1]
SINK_PORT = 31391
# Set before the shared library sets tracing up.
os.environ.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{SINK_PORT}")
os.environ.setdefault("LEAGUE_LOG_LEVEL", "INFO")

from shared.batching import BatchingInbox  # noqa: E402
from shared.bus import EVENTS_EXCHANGE, Bus, Subscription  # noqa: E402
from shared.db import asyncpg_dsn, drop_database, make_engine, make_sessionmaker  # noqa: E402
from shared.events import Envelope, Event, MemberCreated  # noqa: E402
from shared.logging import configure_logging  # noqa: E402
from shared.outbox import OutboxRelay, record_events  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from shared.telemetry import setup_tracing  # noqa: E402
from shared.testing import create_vhost, delete_vhost, migrated_database, run_id  # noqa: E402

FIXTURE_SERVICE = REPO / "shared" / "tests" / "integration" / "messaging_service"
WINDOW = 200
ROUNDS = 2
QUEUE = "bench.member-created"


def member_created(n: int) -> list[Event]:
    branch = uuid.uuid4()
    return [
        MemberCreated(
            member_id=uuid.uuid4(),
            branch_id=branch,
            member_no=f"2026{i:08d}",
            name="测试团员",
            joined_on=date(2020, 5, 4),
        )
        for i in range(n)
    ]


def line(label: str, count: int, seconds: float, bound: float | None = None) -> str:
    rate = count / seconds
    ratio = f"{rate / bound:8.0%}" if bound else f"{'':>8}"
    return f"  {label:44}{count:>8,}{seconds:9.2f} s{rate:10,.0f}/s{ratio}"


async def raw_publish(amqp_url: str, body: bytes, n: int) -> float:
    """The publish bound: persistent, mandatory, confirmed, WINDOW in flight."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        started = time.perf_counter()
        for first in range(0, n, WINDOW):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            message_id=str(uuid.uuid4()),
                            type="member.created",
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key="member.created",
                        mandatory=True,
                    )
                    for _ in range(min(WINDOW, n - first))
                )
            )
        return time.perf_counter() - started
    finally:
        await connection.close()


async def raw_consume(amqp_url: str, n: int) -> float:
    """The consume bound: one by one, each acked, prefetch WINDOW."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=WINDOW)
        queue = await channel.get_queue(QUEUE)
        done = asyncio.Event()
        seen = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            await message.ack()
            seen += 1
            if seen == n:
                done.set()

        started = time.perf_counter()
        await queue.consume(on_message)
        await done.wait()
        return time.perf_counter() - started
    finally:
        await connection.close()


# The relay's own settings, unless --relay-batch / --relay-lanes try others.
RELAY_OPTIONS: dict[str, int] = {}


async def drain_relay(platform: PlatformSettings, db_url: str, events: Sequence[Event]) -> float:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_events(session, events, "bench")
    bus = Bus(platform, "bench-relay")
    await bus.connect()
    relay = OutboxRelay(sessions, bus, asyncpg_dsn(db_url), **RELAY_OPTIONS)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    try:
        while True:
            async with sessions() as session:
                left = (
                    await session.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
                ).scalar_one()
            if left == 0:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        await bus.close()
        await engine.dispose()


async def effects_written(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(text("SELECT count(*) FROM effects"))).scalar_one())


async def drain_batched(platform: PlatformSettings, db_url: str, n: int) -> float:
    """The queue holds the relay's n member.created (and whatever the raw bound's consumer left
    unacked); a BatchingInbox consumer writes an effect per distinct event. Done when this
    round's n have theirs: the effects of earlier rounds are still in the table."""
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    before = await effects_written(sessions)

    async def effect(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
        await session.execute(
            text(
                "INSERT INTO effects (event_id, consumer, note) "
                "SELECT unnest(CAST(:ids AS uuid[])), 'bench', 'account'"
            ),
            {"ids": [envelope.id for _, envelope in batch]},
        )

    handler = BatchingInbox(sessions, "bench", effect)
    bus = Bus(platform, "bench-consumer")
    await bus.connect()
    started = time.perf_counter()
    try:
        await bus.consume(Subscription(QUEUE, {"member.created": handler}, prefetch=400))
        while True:
            if await effects_written(sessions) >= before + n:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
    finally:
        await bus.close()
        await engine.dispose()


@contextlib.asynccontextmanager
async def throwaway(prefix: str) -> AsyncIterator[tuple[PlatformSettings, str]]:
    amqp_url = create_vhost(prefix)
    platform = PlatformSettings(db_prefix=prefix, amqp_url=amqp_url, log_level="WARNING")
    db_url = f"{platform.database_server_url}/{prefix}_messaging"
    await migrated_database(db_url, FIXTURE_SERVICE)
    try:
        yield platform, db_url
    finally:
        await drop_database(db_url)
        delete_vhost(prefix)


async def broker_and_database_stages(n: int) -> None:
    prefix = f"bench_{run_id()}"
    async with throwaway(prefix) as (platform, db_url):

        async def unused(_: Event, __: Envelope) -> None:
            raise AssertionError("only the queue's declaration is wanted here")

        bus = Bus(platform, "bench-topology")
        await bus.connect()
        await bus.declare(Subscription(QUEUE, {"member.created": unused}))
        await bus.close()
        body = member_created(1)[0].envelope("bench").model_dump_json().encode()

        # Rounds take turns (bound, relay, bound, consumer, ...) and each line sums its rounds:
        # this machine is shared, and a slow minute then slows a stage and its bound alike.
        published = consumed = relayed = batched = 0.0
        for _ in range(ROUNDS):
            published += await raw_publish(platform.amqp_url, body, n)
            consumed += await raw_consume(platform.amqp_url, n)
            relayed += await drain_relay(platform, db_url, member_created(n))
            # The relay's n events now wait in the queue for the batched consumer.
            batched += await drain_batched(platform, db_url, n)
        n *= ROUNDS

    print(f"\nbroker and database, N = {n // ROUNDS:,} x {ROUNDS} rounds ({os.cpu_count()} cores)")
    print(f"  {'':44}{'events':>8}{'time':>11}{'rate':>12}{'of bound':>8}")
    print(line(f"bound: aio-pika publish, confirms, window {WINDOW}", n, published))
    print(line("bound: aio-pika consume, ack one by one", n, consumed))
    print(line("outbox relay draining N rows", n, relayed, n / published))
    print(line("batched consumer (inbox + effect)", n, batched, n / consumed))


def import_lower_bound(content: bytes, db_url: str) -> float:
    """Reading the sheet with openpyxl and one COPY of its rows: what an import cannot beat."""
    import openpyxl

    async def copy(rows: list[tuple[str, ...]]) -> None:
        conn = await asyncpg.connect(db_url)
        try:
            width = len(rows[0])
            columns = ", ".join(f"c{i} text" for i in range(width))
            await conn.execute(f"CREATE TEMP TABLE sheet ({columns})")
            await conn.copy_records_to_table("sheet", records=rows)
        finally:
            await conn.close()

    started = time.perf_counter()
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    sheet = book.worksheets[0]
    rows = [
        tuple("" if v is None else str(v) for v in row)
        for row in sheet.iter_rows(min_row=2, values_only=True)
    ]
    asyncio.run(copy(rows))
    return time.perf_counter() - started


async def pipeline_stages(
    members_db: str, identity_db: str, since: datetime
) -> tuple[float, float]:
    """Where the time between an import and its accounts went, by the database's clock: when
    the members relay had published the import's last event, and when identity wrote its last
    account, each counted from the import's transaction (those written after `since`)."""
    members = await asyncpg.connect(members_db)
    identity = await asyncpg.connect(identity_db)
    try:
        committed, published = await members.fetchrow(
            "SELECT min(created_at), max(sent_at) FROM outbox "
            "WHERE type = 'member.imported' AND created_at >= $1",
            since,
        )
        last_account = await identity.fetchval(
            "SELECT max(created_at) FROM accounts WHERE role = 'member' AND created_at >= $1",
            since,
        )
    finally:
        await members.close()
        await identity.close()
    return (published - committed).total_seconds(), (last_account - committed).total_seconds()


async def database_now(db_url: str) -> datetime:
    conn = await asyncpg.connect(db_url)
    try:
        now: datetime = await conn.fetchval("SELECT clock_timestamp()")
        return now
    finally:
        await conn.close()


def import_to_accounts(rows: int, rounds: int, profile: Path | None = None) -> None:
    """`rounds` imports of `rows` rows, each into a branch of its own, taking turns with the lower
    bound: the machine is shared, and a slow minute then slows an import and its bound alike.
    Before each, the machine is left to settle (what the last round set going, the system's own
    start-up). Medians are compared."""
    sys.path.insert(0, str(REPO / "bench"))
    from common import profiled, running_system, settle
    from member_records import wait_for_accounts

    from members.fakes import as_xlsx, people

    imports: list[float] = []
    bounds: list[float] = []
    to_accounts: list[float] = []
    with running_system(
        25000,  # below the ephemeral range: a health probe cannot meet itself
        LEAGUE_LOG_LEVEL="INFO",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{SINK_PORT}",
    ) as bench:
        # Drawn at once: ID numbers distinct across the rounds, as the province's rule wants.
        everyone = people(rows * rounds, random.Random(20261203))
        for turn in range(rounds):
            branch = bench.create_org(bench.boot["root_org_id"], f"基准团支部{turn + 1}", "branch")
            content = as_xlsx(list(everyone[turn * rows : (turn + 1) * rows]))
            settle()
            bounds.append(import_lower_bound(content, bench.db_url("members")))
            settle()
            # Profiled in the first round only: py-spy slows what it samples.
            recorders = profiled(
                {
                    "members-api": (bench.system.pid("members-api"), 4),
                    "identity-events": (bench.system.pid("identity-events"), 12),
                },
                profile if turn == 0 else None,
            )
            since = asyncio.run(database_now(bench.db_url("members")))
            started = time.perf_counter()
            r = bench.api.post(
                f"/orgs/{branch}/members/import", files={"file": ("团员.xlsx", content)}
            )
            answered = time.perf_counter()
            r.raise_for_status()
            assert r.json()["imported"] == rows
            imports.append(answered - started)
            last = asyncio.run(
                wait_for_accounts(bench.db_url("identity"), rows * (turn + 1), answered)
            )
            to_accounts.append(last)
            for recorder in recorders:
                recorder.wait()
            stages = asyncio.run(
                pipeline_stages(bench.db_url("members"), bench.db_url("identity"), since)
            )
            print(
                f"  round {turn + 1}: import {imports[-1]:.2f} s, bound {bounds[-1]:.2f} s; last "
                f"account {last:.2f} s after the answer (from the import's transaction: events "
                f"published +{stages[0]:.2f} s, last account +{stages[1]:.2f} s)"
            )
    took, bound, last = median(imports), median(bounds), median(to_accounts)
    print(
        f"\n{rows:,}-row import through the gateway (whole system, .xlsx {len(content) / 1e6:.1f} "
        f"MB), median of {rounds} rounds"
    )
    print(
        f"  import answered in {took:.2f} s; lower bound (openpyxl + one COPY) {bound:.2f} s: "
        f"{took / bound:.1f}x"
    )
    print(f"  last member account {last:.2f} s after the import answered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--import-rows", type=int, default=10_000)
    parser.add_argument("--import-rounds", type=int, default=3, help="imports, each beside a bound")
    parser.add_argument("--no-system", action="store_true", help="stages 1-3 only")
    parser.add_argument("--relay-batch", type=int, help="rows a relay round claims (default 500)")
    parser.add_argument("--relay-lanes", type=int, help="relay rounds at once (default 2)")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy profiles of members-api (import) and identity-events (accounts) here",
    )
    args = parser.parse_args()
    if args.relay_batch:
        RELAY_OPTIONS["batch_size"] = args.relay_batch
    if args.relay_lanes:
        RELAY_OPTIONS["lanes"] = args.relay_lanes
    # INFO logs as operators run them, rendered and written (to nowhere: the figures are this
    # script's output), so their cost is in every stage's figure.
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    with contextlib.redirect_stdout(devnull):
        configure_logging("bench", "INFO")
    setup_tracing("bench", PlatformSettings())
    sink = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "otlp_sink.py"), "--port", str(SINK_PORT)]
    )
    try:
        # uvloop, as the services' events processes run.
        uvloop.run(broker_and_database_stages(args.events))
        if not args.no_system:
            import_to_accounts(args.import_rows, args.import_rounds, args.profile)
    finally:
        trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]
        sink.terminate()
        sink.wait(10)


if __name__ == "__main__":
    main()
