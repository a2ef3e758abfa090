"""Lists that can grow with the province come in pages (`?limit=`, `?cursor=`, `{items,
next_cursor}`): late accounts, spot-check accuracy."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from members.fakes import person
from members.settings import MembersSettings
from shared.orgtree import upsert_replica
from shared.process import build_resources
from shared.testing import all_pages, org_created

from .conftest import Tree

rng = random.Random(17)
BEIJING = ZoneInfo("Asia/Shanghai")


def at(day: date) -> datetime:
    return datetime.combine(day, time(9), BEIJING)


async def member_recorded(
    client: httpx.AsyncClient,
    admin: Callable,
    db,  # type: ignore[no-untyped-def]
    branch: uuid.UUID,
    joined: date,
    account_after_days: int | None,
) -> str:
    """A member recorded two days after joining, whose account came that many days after
    joining (None: never)."""
    data = person(rng) | {"joined_on": str(joined)}
    r = await client.post(f"/orgs/{branch}/members", json=data, headers=admin(branch))
    assert r.status_code == 201, r.text
    member_id = str(r.json()["id"])
    account_at = at(joined + timedelta(days=account_after_days)) if account_after_days else None
    await db(
        "UPDATE members SET created_at = :recorded, account_created_at = :account WHERE id = :id",
        recorded=at(joined + timedelta(days=2)),
        account=account_at,
        id=uuid.UUID(member_id),
    )
    return member_id


async def test_late_accounts_come_in_pages_and_skip_what_the_calendar_clears(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, db
) -> None:
    joined = date.today() - timedelta(days=70)
    late = {await member_recorded(client, admin, db, tree.branch_a, joined, None) for _ in range(3)}
    late.add(await member_recorded(client, admin, db, tree.branch_a, joined, 40))
    # Past the deadline in calendar days but not in working days: SQL keeps them, the calendar
    # drops them, and a page goes on to the next batch.
    in_time = {
        await member_recorded(client, admin, db, tree.branch_a, joined, 16) for _ in range(4)
    }

    pages = await all_pages(
        client, f"/orgs/{tree.county_a}/late-accounts", admin(tree.county_a), limit=1
    )
    listed = [i["member_id"] for p in pages for i in p["items"]]
    assert all(len(p["items"]) == 1 for p in pages)
    assert len(listed) == len(set(listed))
    assert late <= set(listed) and not in_time & set(listed)
    whole = await client.get(
        f"/orgs/{tree.county_a}/late-accounts", params={"limit": 500}, headers=admin(tree.county_a)
    )
    assert [i["member_id"] for i in whole.json()["items"]] == listed


async def county_of_its_own(
    settings: MembersSettings, tree: Tree
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A county with three branches in the tree copy, so that no other test's records count."""
    county, *branches = (uuid.uuid4() for _ in range(4))
    resources = build_resources(settings)
    try:
        async with resources.sessions() as session, session.begin():
            await upsert_replica(session, org_created("丙县委", [tree.root, tree.city, county]))
            for i, branch in enumerate(branches):
                await upsert_replica(
                    session,
                    org_created(
                        f"第{i + 1}支部", [tree.root, tree.city, county, branch], org_type="branch"
                    ),
                )
    finally:
        await resources.engine.dispose()
    return county, branches


async def test_spot_check_accuracy_comes_in_pages_branch_by_branch(
    client: httpx.AsyncClient, settings: MembersSettings, tree: Tree, admin: Callable, db
) -> None:
    county, branches = await county_of_its_own(settings, tree)
    day = date.today() - timedelta(days=3)
    for branch in branches:
        r = await client.post(f"/orgs/{branch}/members", json=person(rng), headers=admin(branch))
        await db(
            "UPDATE members SET created_at = :t, updated_at = :t WHERE id = :id",
            t=at(day),
            id=uuid.UUID(r.json()["id"]),
        )
    check = (
        await client.post(
            f"/orgs/{county}/spot-checks",
            json={"from": str(day), "to": str(day), "ratio": 1},
            headers=admin(county),
        )
    ).json()
    assert check["sample_size"] == 3
    for item in check["items"]:
        await client.post(
            f"/spot-checks/{check['id']}/items/{item['id']}",
            json={"result": "pass"},
            headers=admin(county),
        )

    path = f"/orgs/{county}/spot-check-accuracy"
    pages = await all_pages(client, path, admin(county), limit=2)
    assert [len(p["items"]) for p in pages] == [2, 1]
    listed = [i["org_id"] for p in pages for i in p["items"]]
    assert sorted(listed) == sorted(str(b) for b in branches)
    assert all((i["checked"], i["passed"]) == (1, 1) for p in pages for i in p["items"])
    whole = (await client.get(path, headers=admin(county))).json()
    assert [i["org_id"] for i in whole["items"]] == listed and whole["next_cursor"] is None
    bad = await client.get(path, params={"cursor": "eyJ4IjogMX0="}, headers=admin(county))
    assert bad.status_code == 422 and bad.json()["code"] == "request.bad_cursor"
