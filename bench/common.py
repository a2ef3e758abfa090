"""What the benchmark scripts share: a throw-away copy of the whole system, an admin session
through the gateway, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deploy.launcher import System, amqp_url_with_vhost, create_vhost, delete_vhost  # noqa: E402

PASSWORD = "Bench-Mark-2026!"  # noqa: S105 - a throw-away installation


@dataclass
class Bench:
    system: System
    prefix: str
    boot: dict[str, Any]
    api: httpx.Client  # logged in as the root admin, base URL .../api/v1

    def db_url(self, service: str) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.prefix}_{service}"

    def create_org(self, parent: str, name: str, type_: str = "committee") -> str:
        doc = self.api.post("/documents", files={"file": ("a.pdf", b"%PDF-1.4 bench")}).json()["id"]
        today = str(date.today())
        r = self.api.post(
            "/orgs",
            json={
                "parent_id": parent,
                "name": name,
                "type": type_,
                "founded_on": today,
                "approved_on": today,
                "leader_name": "测",
                "leader_phone": "13800138000",
                "approval_document_id": doc,
            },
        )
        r.raise_for_status()
        return str(r.json()["id"])


async def _drop_databases(prefix: str) -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        for row in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}_%"
        ):
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def running_system(port_base: int, **env: str) -> Iterator[Bench]:
    """The whole system on its own databases, vhost and ports; removed afterwards."""
    prefix = f"bench_{secrets.token_hex(3)}"
    var_dir = Path(tempfile.mkdtemp(prefix="zhtj-bench-"))
    create_vhost(prefix)
    system = System(
        REPO,
        {
            "LEAGUE_DB_PREFIX": prefix,
            "LEAGUE_PORT_BASE": str(port_base),
            "LEAGUE_AMQP_URL": amqp_url_with_vhost(prefix),
            "LEAGUE_VAR_DIR": str(var_dir),
            "LEAGUE_ADMIN_USERNAME": "admin",
            "LEAGUE_ADMIN_PASSWORD": PASSWORD,
            "LEAGUE_LOG_LEVEL": "WARNING",
            # Benchmarks measure the work, not the per-account limiter.
            "GATEWAY_RATE_PER_SECOND": "1000000",
            "GATEWAY_RATE_BURST": "1000000",
            **env,
        },
        output=var_dir / "system.log",
    )
    try:
        system.prepare()
        system.start_all()
        system.wait_ready(timeout=120)
        boot = system.bootstrap()
        for _ in range(300):
            if httpx.get(f"{system.gateway_url}/readyz").status_code == 200:
                break
            time.sleep(0.2)
        api = httpx.Client(base_url=f"{system.gateway_url}/api/v1", timeout=300)
        token = api.post("/auth/login", json={"username": "admin", "password": PASSWORD}).json()[
            "access_token"
        ]
        api.headers["Authorization"] = f"Bearer {token}"
        yield Bench(system, prefix, boot, api)
    finally:
        system.shutdown()
        asyncio.run(_drop_databases(prefix))
        delete_vhost(prefix)


Node = tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], str, str]  # id, parent, path, name, type


async def copy_org_tree(db_url: Callable[[str], str], nodes: Sequence[Node]) -> None:
    """Organisations straight into org's table and every other service's copy of the tree
    (COPY), as if org had created them and its events had been consumed everywhere."""
    now, today = datetime.now(UTC), date.today()
    org = await asyncpg.connect(db_url("org"))
    try:
        await org.copy_records_to_table(
            "orgs",
            columns=[
                "id", "parent_id", "path", "name", "org_type", "status", "founded_on",
                "approved_on", "created_late", "member_count", "revision", "created_at",
                "updated_at", "dissolution_late",
            ],
            records=[
                (i, parent, path, name, kind, "active", today, today, False, 0, 1, now, now, False)
                for i, parent, path, name, kind in nodes
            ],
        )  # fmt: skip
        await org.execute("ANALYZE orgs")
    finally:
        await org.close()
    for service in ("identity", "members", "fees", "activities", "transfers"):
        conn = await asyncpg.connect(db_url(service))
        try:
            await conn.copy_records_to_table(
                "org_replica",
                columns=["id", "parent_id", "path", "name", "org_type", "status", "revision"],
                records=[(i, p, path, n, k, "active", 1) for i, p, path, n, k in nodes],
            )
            await conn.execute("ANALYZE org_replica")
        finally:
            await conn.close()


def profiled(
    targets: dict[str, tuple[int | None, int]], out: Path | None
) -> list[subprocess.Popen[bytes]]:
    """py-spy recorders for the named processes (pid, seconds), each stopping by itself; none
    without `out`. Collapsed stacks: speedscope and flamegraph.pl draw them, and a script can
    sum them (which is how the time per layer was found)."""
    if out is None:
        return []
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    out.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                str(pid),
                "-d",
                str(seconds),
                "-r",
                "200",
                "--format",
                "raw",
                "-o",
                str(out / f"{name}.folded"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, (pid, seconds) in targets.items()
        if pid is not None
    ]


@contextlib.contextmanager
def traced_as_operators_run(port: int, *, traced: bool = True) -> Iterator[dict[str, str]]:
    """A stand-in OTLP collector (bench/otlp_sink.py) on `port`, and the environment that sends
    every span to it with INFO logs: what a system under measurement runs with. `traced=False`
    leaves the spans unexported (INFO logs still), to tell what tracing itself costs."""
    if not traced:
        yield {"LEAGUE_LOG_LEVEL": "INFO"}
        return
    sink = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "otlp_sink.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        yield {
            "LEAGUE_LOG_LEVEL": "INFO",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        }
    finally:
        sink.terminate()
        sink.wait(10)


@contextlib.contextmanager
def background(argv: list[str], ready_url: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        if ready_url:
            for _ in range(150):
                with contextlib.suppress(httpx.HTTPError):
                    httpx.get(ready_url, timeout=1)
                    break
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def _cpu_ticks() -> tuple[int, int]:
    """All cores' CPU time so far in clock ticks: in total, and idle (idle + iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has used so far, all cores and processes, the kernel's too:
    what a process group's figure leaves out (the broker, interrupts) shows beside it."""
    total, idle = _cpu_ticks()
    return (total - idle) / os.sysconf("SC_CLK_TCK")


def machine_busy(window: float = 0.5) -> float:
    """The share of the machine's CPU time in use over the next `window` seconds (all cores)."""
    total_before, idle_before = _cpu_ticks()
    time.sleep(window)
    total_after, idle_after = _cpu_ticks()
    spent = total_after - total_before
    return 1 - (idle_after - idle_before) / spent if spent else 0.0


def settle(max_busy: float = 0.2, timeout: float = 30.0) -> None:
    """Wait until the machine is quiet (under `max_busy` of its CPU for half a second), at most
    `timeout` seconds: what a stage just before left running (a broker deleting queues, a
    database vacuuming, processes starting up) must not be counted in the next stage's time."""
    started = time.monotonic()
    while machine_busy() > max_busy and time.monotonic() - started < timeout:
        pass


def _cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) each running process of `pids` has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / tick
    return used


class CpuMeter:
    """CPU seconds each named group of processes spends from now until `spent()`. The groups
    are listed again at the end, and a process that started meanwhile counts from its start: a
    pool opens PostgreSQL backends as the load rises, and most of the load's statements run on
    them (listed only at the start, PostgreSQL's share read a fifth of what it was)."""

    def __init__(self, groups: Callable[[], dict[str, list[int]]]) -> None:
        self._groups = groups
        self._before = {name: _cpu_by_pid(pids) for name, pids in groups().items()}

    def spent(self) -> dict[str, float]:
        spent = {}
        for name, pids in self._groups().items():
            before = self._before.get(name, {})
            spent[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in _cpu_by_pid(pids).items())
        return spent


def process_tree(pid: int | None) -> list[int]:
    """A process and its children (uvicorn's workers), or nothing for a process not running."""
    if pid is None:
        return []
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(c) for c in children)]


def postgres_pids() -> list[int]:
    """Every PostgreSQL backend on the machine (the system's, and the bare endpoint's)."""
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and (p / "comm").exists()
        and (p / "comm").read_text().strip() == "postgres"
    ]


def system_groups(system: System) -> dict[str, list[int]]:
    """Every process of the system by name, PostgreSQL, and this load generator: where a
    request's CPU goes, for CpuMeter."""
    groups = {name: process_tree(system.pid(name)) for name in system.process_names}
    return {**groups, "postgres": postgres_pids(), "load generator": [os.getpid()]}
