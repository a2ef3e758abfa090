"""The whole system as `make up` runs it (supervised: a crashed process comes back), on
throw-away databases and a vhost of its own, seeded with a small province and under a steady
mixed load (tests/faults/load.py) for the whole session. Each fault's row of the report table
is printed at the end of the run and written beside the system's log."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.launcher import System, amqp_url_with_vhost, create_vhost, delete_vhost
from members.fakes import as_csv, people
from shared.calendar import beijing_today
from tests.e2e.conftest import (
    Api,
    Running,
    drop_databases,
    eventually,
    first_login,
    wait_gateway_ready,
)
from tests.e2e.test_fees import next_month
from tests.e2e.test_transfers import PASSWORD, activate

from .load import Load, World

REPO = Path(__file__).resolve().parents[2]
SEED_MEMBERS = 30  # per branch
REPORT: list[dict[str, Any]] = []


@dataclass
class Plant:
    """The running system, its seeded world and the load on it."""

    running: Running
    admin: Api
    world: World
    load: Load
    vhost: str
    log: Path  # every process's output, as `make up` writes it
    report: list[dict[str, Any]] = field(default_factory=lambda: REPORT)

    @property
    def system(self) -> System:
        return self.running.system


def seed(running: Running, admin: Api) -> World:
    root = running.bootstrap["root_org_id"]
    city = admin.create_org(root, "故障市委").json()["id"]
    counties, branch_of = {}, {}
    for tag in ("甲", "乙"):
        county = admin.create_org(city, f"故障{tag}县委").json()["id"]
        branch = admin.create_org(county, f"故障{tag}县团支部", "branch").json()["id"]
        counties[branch] = county
    records: dict[str, list[dict[str, Any]]] = {}
    for n, branch in enumerate(counties):
        r = admin.post(
            f"/orgs/{branch}/members/import",
            files={"file": ("团员.csv", as_csv(list(people(SEED_MEMBERS, random.Random(n)))))},
        )
        assert r.status_code == 200, r.text[:300]
        records[branch] = r.json()["members"]
        branch_of.update({m["id"]: branch for m in records[branch]})
    # Everybody pays as a student (20 fen), declared once the fees service knows them.
    for member in branch_of:
        eventually(
            lambda m=member: (
                admin.put(f"/members/{m}/fee-profile", json={"category": "student"}).status_code
                == 200
            ),
            within=60,
            interval=0.3,
        )
    month = next_month(beijing_today())
    assert admin.post("/fee-cycles", json={"month": month}).status_code == 202
    eventually(lambda: admin.get(f"/fee-cycles/{month}").json()["status"] == "done", within=90)
    bills = [
        b["id"]
        for branch in counties
        for b in admin.get(f"/orgs/{branch}/bills", params={"month": month, "limit": 500}).json()[
            "items"
        ]
    ]
    assert len(bills) == 2 * SEED_MEMBERS
    # Four members of the first branch sign up for activities; they never move.
    first = next(iter(counties))
    logins = []
    for record in records[first][:4]:
        activate(running, admin, first, record)
        logins.append((record["member_no"], PASSWORD))
        del branch_of[record["id"]]
    starts = datetime.now(UTC) + timedelta(days=2)
    published = eventually(
        lambda: (
            (
                r := admin.post(
                    f"/orgs/{counties[first]}/activities",
                    json={
                        "title": "故障演练团课",
                        "theme": "学团章",
                        "place": "县青少年活动中心",
                        "starts_at": starts.isoformat(),
                        "ends_at": (starts + timedelta(hours=2)).isoformat(),
                    },
                )
            ).status_code
            == 201
            and r
        ),
        within=30,
        interval=0.3,
    )
    return World(
        gateway_url=running.system.gateway_url,
        admin_token=str(admin.http.headers["Authorization"]).removeprefix("Bearer "),
        root=root,
        city=city,
        counties=counties,
        month=month,
        bills=bills,
        branch_of=branch_of,
        member_logins=logins,
        activity=published.json()["id"],
    )


@pytest.fixture(scope="session")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plant]:
    run = secrets.token_hex(3)
    prefix, vhost = f"test_faults_{run}", f"test_faults_{run}"
    var_dir = tmp_path_factory.mktemp("var")
    create_vhost(vhost)
    env = {
        "LEAGUE_DB_PREFIX": prefix,
        "LEAGUE_PORT_BASE": str(20000 + secrets.randbelow(63) * 200),
        "LEAGUE_AMQP_URL": amqp_url_with_vhost(vhost),
        "LEAGUE_VAR_DIR": str(var_dir),
        "LEAGUE_SPAN_FILE": str(var_dir / "spans.jsonl"),
        "GATEWAY_RATE_PER_SECOND": "500",
        "LEAGUE_ROOT_ORG_NAME": "共青团故障演练省委员会",
        "LEAGUE_ADMIN_USERNAME": "admin",
        "LEAGUE_ADMIN_PASSWORD": "",
    }
    system = System(REPO, env, output=var_dir / "system.log", supervise=True)
    load: Load | None = None
    try:
        system.prepare()
        system.start_all()
        system.wait_ready(timeout=120)
        result = system.bootstrap()
        wait_gateway_ready(system.gateway_url)
        running = Running(system, prefix, var_dir / "spans.jsonl", result)
        admin = first_login(system.gateway_url, "admin", result["initial_password"])
        world = seed(running, admin)
        load = Load(world)
        yield Plant(running, admin, world, load, vhost, var_dir / "system.log")
    finally:
        if load is not None:
            load.stop()
        system.shutdown()
        write_report(var_dir / "faults-report.md")
        asyncio.run(drop_databases(prefix))
        delete_vhost(vhost)


HEADERS = (
    "fault",
    "requests",
    "503 / refused",
    "500",
    "other 5xx",
    "fault lasted (s)",
    "recovered in (s)",
    "violations",
)


def report_table() -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in REPORT:
        lines.append("| " + " | ".join(str(row[h]) for h in HEADERS) + " |")
    return "\n".join(lines)


def write_report(path: Path) -> None:
    if REPORT:
        path.write_text(report_table() + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section("faults: what each did to the requests and the data")
        terminalreporter.write_line(report_table())


def readyz_all(system: System) -> bool:
    """Every API and the gateway say they can serve (database and broker reachable)."""
    urls = [system.gateway_url, *(system.service_url(s.name) for s in system.services)]
    for url in urls:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
    return True


def all_running(system: System) -> bool:
    return all(system.is_running(name) for name in system.process_names)


def wait_recovered(system: System, replaced: dict[str, int], within: float = 120.0) -> float:
    """Seconds until every process runs (those in `replaced` under a new pid: the supervisor
    started them again) and every /readyz is green."""
    start = time.monotonic()
    deadline = start + within

    def back() -> bool:
        return all(system.pid(name) not in (None, old) for name, old in replaced.items())

    while not (back() and all_running(system) and readyz_all(system)):
        assert time.monotonic() < deadline, f"not recovered within {within:.0f} s"
        time.sleep(0.1)
    return round(time.monotonic() - start, 1)
