"""One fault after another under a steady mixed load (issue 12): every process role of every
service and the gateway killed with SIGKILL, RabbitMQ and PostgreSQL restarted, the database
connections terminated again and again, a consumer's queue filled while it is down. After each:
no 500 (nor any 5xx but 503) was ever answered, the system is ready again, and the data holds
(tests/faults/invariants.py). Each fault adds its row to the report table printed at the end."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable

import asyncpg
import pytest

from deploy.launcher import System
from deploy.launcher.table import process_table
from members.fakes import as_csv, people
from shared.testing import rabbitmqctl

from .conftest import Plant, wait_recovered
from .invariants import dead_letters, members_everywhere, money, queue_depth, settled
from .load import UNREACHABLE

# The load runs this long before each fault and after the system is back.
STEADY_SECONDS = 3.0
# The data may take this long to settle after the load stops (events still on their way).
SETTLE_SECONDS = 90.0

# Every process `make up` runs, in the launcher's order: each role of every service, the gateway.
PROCESSES = [spec.name for spec in process_table(8000)]


def crash(system: System, name: str) -> None:
    """SIGKILL to the process and anything it spawned (a pod's death), not the launcher's stop:
    the launcher's supervisor is to bring it back."""
    pid = system.pid(name)
    assert pid is not None, f"{name} is not running"
    os.killpg(pid, signal.SIGKILL)


def restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        timeout=120,
    )


def terminate_connections(prefix: str, seconds: float, every: float) -> int:
    """What an operator's (or a failover's) pg_terminate_backend does, again and again."""

    async def run() -> int:
        killed = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
            try:
                killed += int(
                    await conn.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname LIKE $1",
                        f"{prefix}\\_%",
                    )
                )
            finally:
                await conn.close()
            await asyncio.sleep(every)
        return killed

    return asyncio.run(run())


def fill_a_queue_while_its_consumer_is_down(plant: Plant) -> None:
    """identity's consumers stopped while 150 members are imported in five sheets: the
    imports' events wait in its queue; started again, it makes every account (the invariants
    check one account per member, in the member's branch)."""
    system = plant.system
    system.stop("identity-events")
    branch = next(iter(plant.world.counties))
    for n in range(5):
        r = plant.admin.post(
            f"/orgs/{branch}/members/import",
            files={"file": ("团员.csv", as_csv(list(people(30, random.Random(50_000 + n)))))},
        )
        assert r.status_code == 200, r.text[:300]
        with plant.world.lock:
            plant.world.branch_of.update({m["id"]: branch for m in r.json()["members"]})
    # One member.imported per import (and per chunk of a large one) waits for identity.
    waiting = 0
    deadline = time.monotonic() + 30
    while waiting < 5 and time.monotonic() < deadline:
        waiting = queue_depth(plant.vhost, "identity.member-accounts")
        time.sleep(0.5)
    assert waiting >= 5, f"only {waiting} events waited for identity"
    system.start("identity-events")


def restart_rabbitmq(_: Plant) -> None:
    rabbitmqctl("stop_app")
    time.sleep(5)  # long enough for every relay, consumer and the gateway to notice
    rabbitmqctl("start_app")


def keep_terminating(plant: Plant) -> None:
    assert terminate_connections(plant.running.prefix, seconds=10, every=0.7) > 0


def killer(name: str) -> Callable[[Plant], None]:
    return lambda plant: crash(plant.system, name)


FAULTS: dict[str, Callable[[Plant], None]] = {
    **{f"kill -9 {name}": killer(name) for name in PROCESSES},
    "RabbitMQ stop_app, 5 s, start_app": restart_rabbitmq,
    "PostgreSQL restart": lambda _: restart_postgres(),
    "connections terminated every 0.7 s for 10 s": keep_terminating,
    "identity's queue filled while its consumer is down": fill_a_queue_while_its_consumer_is_down,
}


def unhandled(plant: Plant, since: int) -> list[str]:
    """What the processes answered 500 for since `since` (an offset in the system's log): the
    error, the lines of our code it passed and its last words (the statement, the message). The
    load only sees `internal.error`; this is the failure's cause on a CI machine's one run."""
    with plant.log.open("rb") as log:
        log.seek(since)
        lines = log.read().decode("utf-8", "replace").splitlines()
    found = []
    for line in lines:
        if '"unhandled_error"' not in line:
            continue
        process, _, record = line.partition(" ")
        try:
            entry = json.loads(record)
        except ValueError:
            found.append(line[:2000])
            continue
        trace = str(entry.get("exception", ""))
        ours = [f.strip() for f in trace.splitlines() if "/services/" in f or "/shared/src/" in f]
        found.append(f"{process} {entry.get('error_type')} at {ours[-3:]}: {trace[-1000:]}")
    return found[-5:]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_nothing_is_lost_doubled_or_500_under_the_fault(plant: Plant, fault: str) -> None:
    system, load = plant.system, plant.load
    start, logged = time.monotonic(), plant.log.stat().st_size
    load.resume()
    time.sleep(STEADY_SECONDS)
    killed = fault.removeprefix("kill -9 ")
    replaced = {killed: system.pid(killed)} if killed in PROCESSES else {}
    struck = time.monotonic()
    FAULTS[fault](plant)
    lasted = round(time.monotonic() - struck, 1)
    recovered = wait_recovered(system, replaced)
    time.sleep(STEADY_SECONDS)  # and the load goes on on the recovered system
    load.pause()
    answers = load.since(start)
    statuses = load.tally(answers)
    violations = [
        *settled(lambda: members_everywhere(plant.running), SETTLE_SECONDS),
        *money(plant.running, system, plant.world.month),
        *dead_letters(plant.vhost),
    ]
    failed = sorted({(a.action, a.status, a.code) for a in answers if a.status >= 500})
    others = sum(n for status, n in statuses.items() if status > 503 or 500 < status < 503)
    plant.report.append(
        {
            "fault": fault,
            "requests": len(answers),
            "503 / refused": f"{statuses[503]} / {statuses[UNREACHABLE]}",
            "500": statuses[500],
            "other 5xx": others,
            "fault lasted (s)": lasted,
            "recovered in (s)": recovered,
            "violations": len(violations),
        }
    )
    assert statuses[500] == 0 and others == 0, (
        f"5xx other than 503: {failed}; what the processes logged of them: {unhandled(plant, logged)}"
    )
    assert violations == [], violations
    assert len(answers) > 20, "the load did not run"
