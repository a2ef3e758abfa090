"""A pod of a new release waits until its migration Job has brought the database to the
release's schema: never sooner, and not a moment after."""

from __future__ import annotations

import asyncio

import pytest

from shared.db import drop_database
from shared.migrations import head_revisions, wait_for_schema
from shared.settings import PlatformSettings
from shared.testing import migrated_database

from .conftest import FIXTURE_SERVICE


async def test_a_pod_waits_for_its_releases_schema_and_starts_once_it_is_there(
    platform: PlatformSettings,
) -> None:
    url = f"{platform.database_server_url}/{platform.db_prefix}_schema_wait"
    assert head_revisions(FIXTURE_SERVICE, url)
    try:
        # Not migrated (not even created): it keeps waiting.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.5):
                await wait_for_schema(FIXTURE_SERVICE, url)
        waiting = asyncio.create_task(wait_for_schema(FIXTURE_SERVICE, url))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await migrated_database(url, FIXTURE_SERVICE)  # the migration Job runs
        async with asyncio.timeout(10):
            await waiting
    finally:
        await drop_database(url)
