"""A member record becomes a member account pending activation, with a code the branch hands out."""

from __future__ import annotations

import uuid
from datetime import date

import httpx

from identity.handlers import MEMBER_ACCOUNTS_QUEUE, subscriptions
from identity.settings import IdentitySettings
from shared.events import ImportedMember, MemberCreated, MembersImported
from shared.process import build_resources
from shared.testing import all_pages, caller_headers

from .conftest import Tree


async def deliver_member_created(
    settings: IdentitySettings, branch: uuid.UUID, name: str, times: int = 1
) -> str:
    """Run the real consumer handler (inbox included) as the bus would, `times` times."""
    member_no = f"m{uuid.uuid4().hex[:10]}"
    event = MemberCreated(
        member_id=uuid.uuid4(),
        branch_id=branch,
        member_no=member_no,
        name=name,
        joined_on=date(2026, 5, 4),
    )
    envelope = event.envelope("members")
    resources = build_resources(settings)
    try:
        handlers = {s.queue: s for s in subscriptions(resources)}[MEMBER_ACCOUNTS_QUEUE].handlers
        for _ in range(times):
            await handlers["member.created"](event, envelope)
    finally:
        await resources.engine.dispose()
    return member_no


async def test_a_new_member_gets_an_account_and_activates_it_with_the_listed_code(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree
) -> None:
    member_no = await deliver_member_created(settings, tree.county_a, "张小明", times=2)
    admin = caller_headers(settings.platform.internal_secret, "admin", tree.county_a)
    listed = await client.get(f"/orgs/{tree.county_a}/activation-codes", headers=admin)
    assert listed.status_code == 200
    mine = [i for i in listed.json()["items"] if i["username"] == member_no]
    assert len(mine) == 1 and mine[0]["name"] == "张小明" and mine[0]["activation_code"]

    before = await client.post("/auth/login", json={"username": member_no, "password": "anything"})
    assert before.status_code in (401, 403)
    activated = await client.post(
        "/auth/activate",
        json={
            "username": member_no,
            "activation_code": mine[0]["activation_code"],
            "new_password": "Member-Pass-2026",
        },
    )
    assert activated.status_code == 204
    login = await client.post(
        "/auth/login", json={"username": member_no, "password": "Member-Pass-2026"}
    )
    assert login.status_code == 200 and login.json()["account"]["role"] == "member"
    after = await client.get(f"/orgs/{tree.county_a}/activation-codes", headers=admin)
    assert member_no not in [i["username"] for i in after.json()["items"]]


async def test_another_orgs_admin_cannot_read_the_codes(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree
) -> None:
    await deliver_member_created(settings, tree.county_a, "李小红")
    other = caller_headers(settings.platform.internal_secret, "admin", tree.county_b)
    r = await client.get(f"/orgs/{tree.county_a}/activation-codes", headers=other)
    assert r.status_code == 403


async def test_an_imported_chunk_opens_one_account_per_member_even_when_redelivered(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree
) -> None:
    members = [
        ImportedMember(
            member_id=uuid.uuid4(),
            member_no=f"i{uuid.uuid4().hex[:10]}",
            name=f"导入团员{i}",
            joined_on=date(2026, 5, 4),
        )
        for i in range(3)
    ]
    event = MembersImported(branch_id=tree.county_a, members=members)
    envelope = event.envelope("members")
    resources = build_resources(settings)
    try:
        handlers = {s.queue: s for s in subscriptions(resources)}[MEMBER_ACCOUNTS_QUEUE].handlers
        for _ in range(2):  # a redelivery after a lost ack opens nothing twice
            await handlers["member.imported"](event, envelope)
    finally:
        await resources.engine.dispose()
    admin = caller_headers(settings.platform.internal_secret, "admin", tree.county_a)
    pages = await all_pages(
        client, f"/orgs/{tree.county_a}/activation-codes", headers=admin, limit=200
    )
    usernames = [i["username"] for page in pages for i in page["items"]]
    assert all(usernames.count(m.member_no) == 1 for m in members)
