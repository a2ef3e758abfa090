"""The transfers service's use cases on a fresh database migrated by Alembic, with a small tree
in its org copy (a city with two counties, each with a branch) and members in its member copy.
The service is not served yet (issue 8 continues): its use cases are tested directly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.caller import Caller
from shared.db import drop_database
from shared.events import Event, ImportedMember, MembersImported
from shared.process import resources_of
from shared.testing import BranchTree, migrated_database, run_id, seed_branch_tree, test_platform
from shared.testing import deliver as deliver_events
from transfers.handlers import MEMBERS_QUEUE, subscriptions
from transfers.main import SERVICE_ROOT
from transfers.settings import TransfersSettings

Tree = BranchTree


@pytest.fixture(scope="session")
async def settings() -> AsyncIterator[TransfersSettings]:
    platform = test_platform(f"test_{run_id()}", "amqp://guest:guest@127.0.0.1:5672/")
    settings = TransfersSettings(platform=platform)
    await migrated_database(settings.resolved_database_url(), SERVICE_ROOT)
    yield settings
    await drop_database(settings.resolved_database_url())


@pytest.fixture(scope="module")
async def sessions(
    settings: TransfersSettings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with resources_of(settings) as resources:
        yield resources.sessions


@pytest.fixture(scope="session")
async def tree(settings: TransfersSettings) -> Tree:
    async with resources_of(settings) as resources:
        return await seed_branch_tree(resources.sessions)


@pytest.fixture
def db(sessions: async_sessionmaker[AsyncSession]) -> Callable[..., Awaitable[list[Any]]]:
    """A statement on the service's database, in its own transaction."""

    async def query(sql: str, **params: Any) -> list[Any]:
        async with sessions() as session, session.begin():
            result = await session.execute(text(sql), params)
            return list(result) if result.returns_rows else []

    return query


@pytest.fixture
def new_member(settings: TransfersSettings) -> Callable[[uuid.UUID], Awaitable[uuid.UUID]]:
    """A member of a branch, copied as the bus delivers member.imported (handler and inbox)."""

    async def make(branch: uuid.UUID) -> uuid.UUID:
        member = ImportedMember(
            member_id=uuid.uuid4(),
            member_no=f"2026{uuid.uuid4().int % 10**8:08d}",
            name="团员",
            joined_on=date(2024, 5, 4),
        )
        await deliver(settings, MembersImported(branch_id=branch, members=[member]))
        return member.member_id

    return make


async def deliver(settings: TransfersSettings, *events: Event) -> None:
    await deliver_events(settings, subscriptions, MEMBERS_QUEUE, *events)


def admin_of(org: uuid.UUID) -> Caller:
    return Caller(account_id=uuid.uuid4(), role="admin", org_id=org)


def member_caller(member: uuid.UUID, branch: uuid.UUID) -> Caller:
    return Caller(account_id=uuid.uuid4(), role="member", org_id=branch, member_id=member)
