"""Helpers for integration tests on the real PostgreSQL and RabbitMQ: throw-away databases migrated
with Alembic, and a throw-away RabbitMQ virtual host per test run."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.db import drop_database, ensure_database
from shared.events import OrgCreated, OrgType
from shared.migrations import upgrade_head
from shared.settings import PlatformSettings

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def run_id() -> str:
    return secrets.token_hex(4)


def rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([exe, *args], check=True, capture_output=True, timeout=60)


def create_vhost(name: str) -> str:
    """Create a vhost for guest and return the AMQP URL that uses it."""
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@127.0.0.1:5672/{quote(name, safe='')}"


def delete_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


def test_platform(prefix: str, amqp_url: str, **overrides: object) -> PlatformSettings:
    values: dict[str, object] = {
        "db_prefix": prefix,
        "amqp_url": amqp_url,
        "retry_delays_ms": [50, 100],
        "delivery_limit": 3,
        "log_json": True,
    }
    values.update(overrides)
    return PlatformSettings(**values)  # type: ignore[arg-type]


async def migrated_database(url: str, service_root: Path) -> None:
    """A fresh database at `url`, migrated to head exactly as production does."""
    await drop_database(url)
    await ensure_database(url)
    # Alembic's env.py runs its own event loop: give it a thread of its own.
    await asyncio.to_thread(upgrade_head, service_root, url)


def org_created(
    name: str = "测试团委",
    path: Sequence[uuid.UUID] | None = None,
    *,
    org_type: OrgType = "committee",
) -> OrgCreated:
    """`org.created` of an active organisation at `path` (root .. itself; default: a new root)."""
    ids = list(path) if path is not None else [uuid.uuid4()]
    return OrgCreated(
        org_id=ids[-1],
        parent_id=ids[-2] if len(ids) > 1 else None,
        path=ids,
        name=name,
        org_type=org_type,
        status="active",
        revision=1,
        founded_on=date(2026, 1, 5),
        approved_on=date(2026, 1, 5),
        created_late=False,
    )


@dataclass(frozen=True)
class BranchTree:
    """Province → city → two counties, each with one branch: the tree services' tests share."""

    root: uuid.UUID
    city: uuid.UUID
    county_a: uuid.UUID
    county_b: uuid.UUID
    branch_a: uuid.UUID
    branch_b: uuid.UUID


async def seed_branch_tree(sessions: async_sessionmaker[AsyncSession]) -> BranchTree:
    """A new BranchTree in a service's copy of the organisation tree (org_replica)."""
    from shared.orgtree import upsert_replica

    root, city, a, b, ba, bb = (uuid.uuid4() for _ in range(6))
    nodes: list[tuple[str, list[uuid.UUID], OrgType]] = [
        ("省委", [root], "committee"),
        ("市委", [root, city], "committee"),
        ("甲县委", [root, city, a], "committee"),
        ("乙县委", [root, city, b], "committee"),
        ("甲团支部", [root, city, a, ba], "branch"),
        ("乙团支部", [root, city, b, bb], "branch"),
    ]
    async with sessions() as session, session.begin():
        for name, path, org_type in nodes:
            await upsert_replica(session, org_created(name, path, org_type=org_type))
    return BranchTree(root, city, a, b, ba, bb)


async def eventually(check: object, within: float = 10.0, interval: float = 0.05) -> object:
    """Poll an async (or plain) callable until it returns something truthy; fail after `within` seconds."""
    import inspect

    assert callable(check)
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s (last value: {value!r})")
        await asyncio.sleep(interval)


def caller_headers(
    secret: str,
    role: str,
    org_id: object,
    account_id: object = None,
    member_id: object = None,
) -> dict[str, str]:
    """Headers as the gateway would forward them for this caller."""
    import uuid as _uuid

    from shared.caller import Caller, sign_caller

    def as_uuid(value: object) -> _uuid.UUID | None:
        return (
            value if isinstance(value, _uuid.UUID) else (_uuid.UUID(str(value)) if value else None)
        )

    return sign_caller(
        Caller(
            account_id=as_uuid(account_id) or _uuid.uuid4(),
            role=role,  # type: ignore[arg-type]
            org_id=as_uuid(org_id),
            member_id=as_uuid(member_id),
        ),
        secret,
    )


async def all_pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    """Every page of a list, `limit` items at a time, following `next_cursor` to the end."""
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        r = await client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        if not pages[-1]["next_cursor"]:
            return pages
        params["cursor"] = pages[-1]["next_cursor"]


async def deliver(
    settings: Any,
    subscriptions: Callable[[Any], list[Any]],
    queue: str,
    *events: Any,
    producer: str = "members",
) -> None:
    """Events handed to a service's real consumer of `queue` (inbox and batching included), as
    the bus would deliver them, on the service's database. An event may come with its envelope
    (made earlier, to deliver it late), as `(event, envelope)`."""
    from shared.process import resources_of

    async with resources_of(settings) as resources:
        handlers = {s.queue: s for s in subscriptions(resources)}[queue].handlers
        for given in events:
            event, envelope = given if isinstance(given, tuple) else (given, None)
            await handlers[event.type](event, envelope or event.envelope(producer))


async def planned_as_for_a_province(session: AsyncSession) -> None:
    """The session's statements planned as on a province's tables (millions of rows): a batch's
    arrays walked in order, each row found by its key. A test's few rows would be scanned in the
    table's order instead, which hides the order a batch locks its rows in."""
    from sqlalchemy import text

    for planner in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
        await session.execute(text(f"SET LOCAL {planner} = off"))


async def until_waiting_for_a_lock(
    sessions: async_sessionmaker[AsyncSession], task: asyncio.Task[Any], within: float = 5.0
) -> None:
    """Until some backend of the database waits for a lock (the task's, which has not finished:
    a test holding a row stops it there). Each look in a transaction of its own: one transaction
    sees pg_stat_activity as it was at its first look."""
    from sqlalchemy import text

    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        assert not task.done(), task
        async with sessions() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("nothing waited for the held row")
