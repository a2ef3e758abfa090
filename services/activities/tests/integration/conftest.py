"""The activities service on a fresh database migrated by Alembic, with a small tree in its org
copy (a city with two counties, each with a branch), members delivered to its member copy as
the bus would, and its routes served in-process."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.commands import FAN_OUT_QUEUE, FanOutNotices
from activities.handlers import MEMBERS_QUEUE, NOTICES_QUEUE, subscriptions
from activities.main import SERVICE_ROOT, create_app
from activities.settings import ActivitiesSettings
from shared.db import drop_database
from shared.events import Envelope, Event, ImportedMember, MembersImported, parse_event
from shared.process import resources_of
from shared.testing import (
    BranchTree,
    caller_headers,
    migrated_database,
    run_id,
    seed_branch_tree,
    test_platform,
)
from shared.testing import deliver as deliver_events
from shared.testing_app import running_app

Tree = BranchTree
Headers = dict[str, str]


@pytest.fixture(scope="session")
async def settings() -> AsyncIterator[ActivitiesSettings]:
    platform = test_platform(f"test_{run_id()}", "amqp://guest:guest@127.0.0.1:5672/")
    settings = ActivitiesSettings(platform=platform)
    await migrated_database(settings.resolved_database_url(), SERVICE_ROOT)
    yield settings
    await drop_database(settings.resolved_database_url())


# Pools per test module, not per session: they would hold connections through the end-to-end
# tests, which run every process of the system against the same PostgreSQL.
@pytest.fixture(scope="module")
async def sessions(
    settings: ActivitiesSettings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with resources_of(settings) as resources:
        yield resources.sessions


@pytest.fixture(scope="module")
async def client(settings: ActivitiesSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client


@pytest.fixture
async def tree(sessions: async_sessionmaker[AsyncSession]) -> Tree:
    """A tree of its own for each test: audiences and inboxes do not mix across tests."""
    return await seed_branch_tree(sessions)


@pytest.fixture
def db(sessions: async_sessionmaker[AsyncSession]) -> Callable[..., Awaitable[list[Any]]]:
    """A statement on the service's database, in its own transaction."""

    async def query(sql: str, **params: Any) -> list[Any]:
        async with sessions() as session, session.begin():
            result = await session.execute(text(sql), params)
            return list(result) if result.returns_rows else []

    return query


async def deliver(settings: ActivitiesSettings, queue: str, *events: Event) -> None:
    await deliver_events(settings, subscriptions, queue, *events)


async def new_members(settings: ActivitiesSettings, branch: uuid.UUID, n: int) -> list[uuid.UUID]:
    """Members of a branch, copied as the bus delivers member.imported (handler and inbox)."""
    members = [
        ImportedMember(
            member_id=uuid.uuid4(),
            member_no=f"2026{uuid.uuid4().int % 10**8:08d}",
            name=f"团员{i}",
            joined_on=date(2024, 5, 4),
        )
        for i in range(n)
    ]
    await deliver(settings, MEMBERS_QUEUE, MembersImported(branch_id=branch, members=members))
    return [m.member_id for m in members]


async def notify(settings: ActivitiesSettings, *events: Event) -> None:
    """Other services' events handed to the notices consumer (templates, batching, inbox)."""
    await deliver_events(settings, subscriptions, NOTICES_QUEUE, *events, producer="others")


async def fan_out_commands(db: Callable[..., Awaitable[list[Any]]]) -> list[Envelope]:
    """The fan-out commands the outbox holds, not yet handed to the work queue's consumer."""
    rows = await db(
        "SELECT envelope FROM outbox WHERE type = :t AND sent_at IS NULL ORDER BY created_at, id",
        t=FanOutNotices.type,
    )
    await db("UPDATE outbox SET sent_at = now() WHERE type = :t", t=FanOutNotices.type)
    return [
        Envelope.model_validate(
            r.envelope if isinstance(r.envelope, dict) else json.loads(r.envelope)
        )
        for r in rows
    ]


async def run_fan_out(settings: ActivitiesSettings, envelopes: list[Envelope]) -> None:
    """The work queue's consumer (inbox included) on each command, as the queue delivers it."""
    async with resources_of(settings) as resources:
        handlers = {s.queue: s for s in subscriptions(resources)}[FAN_OUT_QUEUE].handlers
        for envelope in envelopes:
            await handlers[envelope.type](parse_event(envelope), envelope)


@pytest.fixture
def admin(settings: ActivitiesSettings) -> Callable[[uuid.UUID], Headers]:
    def headers(org: uuid.UUID) -> Headers:
        return caller_headers(settings.platform.internal_secret, "admin", org, uuid.uuid4())

    return headers


@pytest.fixture
def member(settings: ActivitiesSettings) -> Callable[[uuid.UUID, uuid.UUID], Headers]:
    def headers(member_id: uuid.UUID, branch: uuid.UUID) -> Headers:
        return caller_headers(
            settings.platform.internal_secret, "member", branch, uuid.uuid4(), member_id
        )

    return headers
