"""The assessment's system usage (系统使用率) over a subtree: member accounts activated and used
in the year over every member account, with each direct child's figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from identity.settings import IdentitySettings
from shared.calendar import beijing_today
from shared.caller import SYSTEM_CALLER, sign_caller
from shared.orgtree import upsert_replica
from shared.process import Resources
from shared.testing import caller_headers, org_created

from .conftest import Tree
from .test_member_accounts import deliver_member_created

PASSWORD = "Member-Pass-2026"


async def a_city_of_two_branches(
    resources: Resources, tree: Tree, prefix: str
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A city committee under the root with two branches, as org would have told identity."""
    city, first, second = (uuid.uuid4() for _ in range(3))
    async with resources.sessions() as session, session.begin():
        for name, path in [
            (f"{prefix}市委", [tree.root, city]),
            (f"{prefix}甲支部", [tree.root, city, first]),
            (f"{prefix}乙支部", [tree.root, city, second]),
        ]:
            await upsert_replica(session, org_created(name, path))
    return city, first, second


async def test_usage_counts_members_who_logged_in_that_year_per_child(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    resources: Resources,
    tree: Tree,
    make_account: Callable[..., Any],
) -> None:
    city, x, y = await a_city_of_two_branches(resources, tree, "用例")
    in_x = [await make_account(x, password=PASSWORD, role="member") for _ in range(3)]
    in_y = [await make_account(y, password=PASSWORD, role="member") for _ in range(2)]
    await deliver_member_created(settings, x, "未激活")  # pending activation: counted, not used
    await make_account(x, password=PASSWORD, role="admin")  # an admin is no member
    for username, _ in [in_x[0], in_x[1], in_y[0]]:
        for _ in range(2):  # twice in a month is one month of use
            r = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
    this_year = beijing_today().year
    # The third of x used it last year only.
    async with resources.sessions() as session, session.begin():
        await session.execute(
            text("INSERT INTO account_activity (account_id, month) VALUES (:id, :month)"),
            {
                "id": uuid.UUID(in_x[2][1]),
                "month": beijing_today().replace(year=this_year - 1, day=1),
            },
        )

    system = sign_caller(SYSTEM_CALLER, settings.platform.internal_secret)

    async def usage(year: int) -> dict[str, Any]:
        r = await client.get(
            f"/internal/orgs/{city}/assessment/system-usage?year={year}", headers=system
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    now = await usage(this_year)
    assert (now["indicator"], now["numerator"], now["denominator"]) == ("system_usage", 3, 6)
    assert {c["org_id"]: (c["numerator"], c["denominator"]) for c in now["children"]} == {
        str(x): (2, 4),
        str(y): (1, 2),
    }
    assert now["rate"] == 0.5
    last = await usage(this_year - 1)
    assert {c["org_id"]: c["numerator"] for c in last["children"]} == {str(x): 1, str(y): 0}

    admin = caller_headers(settings.platform.internal_secret, "admin", city)
    r = await client.get(
        f"/internal/orgs/{city}/assessment/system-usage?year={this_year}", headers=admin
    )
    assert r.status_code == 403


def zhtj_identity(settings: IdentitySettings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "zhtj-identity"), *args],
        env={**os.environ, "LEAGUE_DB_PREFIX": settings.platform.db_prefix},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_past_year_counts_members_where_the_month_end_snapshot_found_them(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    resources: Resources,
    tree: Tree,
    make_account: Callable[..., Any],
) -> None:
    city, p, q = await a_city_of_two_branches(resources, tree, "快照")
    # Two years back, so that the other test's last year stays without a snapshot.
    then = beijing_today().year - 2
    _, mover = await make_account(p, password=PASSWORD, role="member")
    async with resources.sessions() as session, session.begin():
        await session.execute(
            text("INSERT INTO account_activity (account_id, month) VALUES (:id, :month)"),
            {"id": uuid.UUID(mover), "month": date(then, 11, 1)},
        )
    # The operator's month-end snapshot of last December, as the CronJob runs it.
    done = zhtj_identity(settings, "snapshot-usage", "--month", f"{then}-12")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["month"] == f"{then}-12"
    # This year the member moved to the other branch.
    async with resources.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE accounts SET org_id = :q WHERE id = :id"), {"q": q, "id": uuid.UUID(mover)}
        )
    system = sign_caller(SYSTEM_CALLER, settings.platform.internal_secret)

    async def children(year: int) -> dict[str, tuple[int, int]]:
        r = await client.get(
            f"/internal/orgs/{city}/assessment/system-usage?year={year}", headers=system
        )
        assert r.status_code == 200, r.text
        return {c["org_id"]: (c["numerator"], c["denominator"]) for c in r.json()["children"]}

    assert await children(then) == {str(p): (1, 1)}  # where December found the member
    assert await children(beijing_today().year) == {str(q): (0, 1)}  # where the member is now
    bad = zhtj_identity(settings, "snapshot-usage", "--month", "2026-13")
    assert bad.returncode == 2 and "not a month" in bad.stderr
