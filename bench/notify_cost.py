"""What waking the relay costs: small transactions with a NOTIFY each (as every cash payment did
before `shared.outbox.RelayWakeups`), beside the same transactions without one, in the same run.

Four writers insert one row per transaction while one connection LISTENs as the relay does;
prints transactions/s and the CPU per transaction of the writers' backends, the listening
backend and this process (writers and listener). Runs in a database of its own, dropped after.

    .venv/bin/python bench/notify_cost.py [--transactions 20000] [--dsn postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from pathlib import Path

import asyncpg
import uvloop

DATABASE = "bench_notify_cost"
WRITERS = 4


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_run(dsn: str, notify: bool, transactions: int) -> None:
    listener = await asyncpg.connect(dsn)
    heard = 0

    def on_notification(*_: object) -> None:
        nonlocal heard
        heard += 1

    await listener.add_listener("outbox", on_notification)
    writers = [await asyncpg.connect(dsn) for _ in range(WRITERS)]
    wake = "pg_notify('outbox', '')" if notify else "NULL"
    sql = f"WITH x AS (INSERT INTO rows VALUES ($1) RETURNING id) SELECT {wake} FROM x"  # noqa: S608
    backends = {"writers": [w.get_server_pid() for w in writers]}
    backends["listener"] = [listener.get_server_pid()]
    before = {name: sum(map(_cpu, pids)) for name, pids in backends.items()}
    here, started = time.process_time(), time.perf_counter()

    async def write(connection: asyncpg.Connection, count: int) -> None:
        for _ in range(count):
            await connection.fetch(sql, uuid.uuid4())

    await asyncio.gather(*(write(w, transactions // WRITERS) for w in writers))
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)  # the last notifications reach the listener
    spent = {name: sum(map(_cpu, pids)) - before[name] for name, pids in backends.items()}
    per = 1e6 / transactions
    print(
        f"{'NOTIFY each' if notify else 'no NOTIFY  '}: {transactions / elapsed:7.0f} tx/s; "
        f"CPU µs per transaction: writers' backends {spent['writers'] * per:6.1f}, "
        f"listening backend {spent['listener'] * per:5.1f}, "
        f"this process {(time.process_time() - here) * per:6.1f}; notifications heard {heard}"
    )
    await listener.close()
    for writer in writers:
        await writer.close()


async def main(server: str, transactions: int) -> None:
    admin = await asyncpg.connect(server)
    await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    await admin.execute(f"CREATE DATABASE {DATABASE}")
    dsn = server.rsplit("/", 1)[0] + f"/{DATABASE}"
    try:
        setup = await asyncpg.connect(dsn)
        await setup.execute("CREATE TABLE rows (id uuid PRIMARY KEY)")
        await setup.close()
        for notify in (False, True, False, True):  # interleaved: the machine is shared
            await one_run(dsn, notify, transactions)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    uvloop.run(main(args.dsn, args.transactions))
