"""A member record becomes a member account pending activation, with a code the branch hands out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import httpx
from sqlalchemy import text

from identity import service
from identity.handlers import (
    DISSOLUTIONS_QUEUE,
    MEMBER_ACCOUNTS_QUEUE,
    ORG_TREE_QUEUE,
    subscriptions,
)
from identity.moves import member_moves, org_dissolved
from identity.settings import IdentitySettings
from shared.events import (
    ImportedMember,
    MemberCreated,
    MemberDeparted,
    MembersImported,
    MemberTransferred,
    OrgDissolved,
)
from shared.process import Resources, build_resources
from shared.testing import all_pages, caller_headers, deliver, org_created

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


async def activated_member(
    client: httpx.AsyncClient, settings: IdentitySettings, branch: uuid.UUID, name: str
) -> tuple[str, uuid.UUID]:
    """A member account of `branch`, activated with password Member-Pass-2026."""
    member_no = await deliver_member_created(settings, branch, name)
    admin = caller_headers(settings.platform.internal_secret, "admin", branch)
    codes = await all_pages(client, f"/orgs/{branch}/activation-codes", admin, 200)
    [code] = [i["activation_code"] for p in codes for i in p["items"] if i["username"] == member_no]
    activated = await client.post(
        "/auth/activate",
        json={"username": member_no, "activation_code": code, "new_password": "Member-Pass-2026"},
    )
    assert activated.status_code == 204, activated.text
    login = await client.post(
        "/auth/login", json={"username": member_no, "password": "Member-Pass-2026"}
    )
    return member_no, uuid.UUID(login.json()["account"]["member_id"])


async def test_a_transferred_member_logs_in_to_the_new_branch(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree
) -> None:
    member_no, member_id = await activated_member(client, settings, tree.county_a, "周转出")
    moved = MemberTransferred(
        member_id=member_id,
        transfer_id=uuid.uuid4(),
        from_branch_id=tree.county_a,
        to_branch_id=tree.county_b,
        from_path=[tree.root, tree.city, tree.county_a],
        to_path=[tree.root, tree.city, tree.county_b],
    )
    await deliver(settings, subscriptions, MEMBER_ACCOUNTS_QUEUE, moved, moved)
    login = await client.post(
        "/auth/login", json={"username": member_no, "password": "Member-Pass-2026"}
    )
    assert login.status_code == 200
    assert login.json()["account"]["org_id"] == str(tree.county_b)


def transfer(member: uuid.UUID, old: uuid.UUID, new: uuid.UUID, tree: Tree) -> MemberTransferred:
    return MemberTransferred(
        member_id=member,
        transfer_id=uuid.uuid4(),
        from_branch_id=old,
        to_branch_id=new,
        from_path=[tree.root, tree.city, old],
        to_path=[tree.root, tree.city, new],
    )


async def test_moves_take_effect_in_the_order_they_occurred_whatever_their_arrival(
    settings: IdentitySettings, tree: Tree, resources: Resources
) -> None:
    """Events that failed once come back from their retry queue behind later ones: the
    account still ends where the last transfer put it, and is closed if its member left."""

    async def account_of(member: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        async with resources.sessions() as session:
            row = (
                await session.execute(
                    text("SELECT org_id, status FROM accounts WHERE member_id = :m"),
                    {"m": member},
                )
            ).first()
        return None if row is None else (row.org_id, row.status)

    def joined(member: uuid.UUID) -> MemberCreated:
        return MemberCreated(
            member_id=member,
            branch_id=tree.county_a,
            member_no=f"m{uuid.uuid4().hex[:10]}",
            name="钱往返",
            joined_on=date(2026, 5, 4),
        )

    # Transferred there and back: the way there arrives last.
    member = uuid.uuid4()
    there = transfer(member, tree.county_a, tree.county_b, tree)
    there_sent = there.envelope("members")
    back = transfer(member, tree.county_b, tree.county_a, tree)
    await deliver(settings, subscriptions, MEMBER_ACCOUNTS_QUEUE, joined(member), back)
    await deliver(settings, subscriptions, MEMBER_ACCOUNTS_QUEUE, (there, there_sent))
    assert await account_of(member) == (tree.county_a, "pending_activation")
    # Both transfers, out of order, before the account is opened: they wait for it.
    member = uuid.uuid4()
    there = transfer(member, tree.county_a, tree.county_b, tree)
    there_sent = there.envelope("members")
    onward = transfer(member, tree.county_b, tree.city, tree)
    await deliver(settings, subscriptions, MEMBER_ACCOUNTS_QUEUE, onward, (there, there_sent))
    assert await account_of(member) is None
    await deliver(settings, subscriptions, MEMBER_ACCOUNTS_QUEUE, joined(member))
    assert await account_of(member) == (tree.city, "pending_activation")
    # A departure before the opening: the account opens closed.
    member = uuid.uuid4()
    left = MemberDeparted(
        member_id=member, branch_id=tree.county_a, reason="over_age", on=date(2026, 12, 1)
    )
    await deliver(settings, subscriptions, MEMBER_ACCOUNTS_QUEUE, left, joined(member))
    assert await account_of(member) == (tree.county_a, "disabled")


async def test_a_move_kept_while_another_process_opened_the_account_is_applied_next(
    settings: IdentitySettings, tree: Tree, resources: Resources
) -> None:
    """Two consumer processes: one keeps a transfer for an account not open yet, while the
    other opens it; neither transaction sees the other's row. The next batch applies it."""
    member = uuid.uuid4()
    created = MemberCreated(
        member_id=member,
        branch_id=tree.county_a,
        member_no=f"m{uuid.uuid4().hex[:10]}",
        name="并发",
        joined_on=date(2026, 5, 4),
    )
    moved = transfer(member, tree.county_a, tree.county_b, tree)
    sealer = service.activation_sealer(settings.platform.internal_secret)
    async with resources.sessions() as one, resources.sessions() as other:
        await one.begin()
        await member_moves(one, [(moved, moved.envelope("members"))])  # no account: kept
        await other.begin()
        await service.open_member_accounts(
            other,
            [created],
            ttl=timedelta(days=30),
            pepper=settings.platform.internal_secret,
            sealer=sealer,
        )
        await member_moves(other, [(created, created.envelope("members"))])
        await other.commit()
        await one.commit()

    async def account_branch() -> uuid.UUID | None:
        async with resources.sessions() as session:
            return await session.scalar(
                text("SELECT org_id FROM accounts WHERE member_id = :m"), {"m": member}
            )

    assert await account_branch() == tree.county_a  # the race, as it ends
    # Any next batch of either process (here, another member's creation) applies it.
    await deliver_member_created(settings, tree.county_b, "下一个")
    assert await account_branch() == tree.county_b


async def test_a_departed_members_account_is_closed_for_good(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, resources: Resources
) -> None:
    member_no, member_id = await activated_member(client, settings, tree.county_a, "吴离团")
    departed = MemberDeparted(
        member_id=member_id, branch_id=tree.county_a, reason="over_age", on=date(2026, 12, 1)
    )
    await deliver(settings, subscriptions, MEMBER_ACCOUNTS_QUEUE, departed, departed)
    login = await client.post(
        "/auth/login", json={"username": member_no, "password": "Member-Pass-2026"}
    )
    assert login.status_code == 403 and login.json()["code"] == "auth.disabled"
    # The gateway stops the tokens already issued: one account.frozen, however often told.
    async with resources.sessions() as session:
        account_id, frozen_events = (
            await session.execute(
                text(
                    "SELECT a.id, (SELECT count(*) FROM outbox WHERE type = 'account.frozen' "
                    "AND envelope->'data'->>'account_id' = a.id::text) "
                    "FROM accounts a WHERE a.member_id = :m"
                ),
                {"m": member_id},
            )
        ).one()
    assert frozen_events == 1
    root_admin = caller_headers(settings.platform.internal_secret, "admin", tree.root)
    unfreeze = await client.post(f"/accounts/{account_id}/unfreeze", headers=root_admin)
    assert unfreeze.status_code == 409 and unfreeze.json()["code"] == "account.disabled"


async def test_the_admins_of_a_dissolved_organisation_can_no_longer_log_in(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account
) -> None:
    dissolved_org = uuid.uuid4()
    username, _ = await make_account(dissolved_org)
    elsewhere, _ = await make_account(tree.county_b)
    dissolved = OrgDissolved(
        org_id=dissolved_org,
        parent_id=tree.county_a,
        path=[tree.root, tree.city, tree.county_a, dissolved_org],
        name="已撤支部",
        org_type="branch",
        status="dissolved",
        revision=3,
        decided_on=date(2026, 12, 1),
    )
    await deliver(settings, subscriptions, DISSOLUTIONS_QUEUE, dissolved)
    login = await client.post(
        "/auth/login", json={"username": username, "password": "Initial-Pass-2026"}
    )
    assert login.status_code == 403 and login.json()["code"] == "auth.disabled"
    other = await client.post(
        "/auth/login", json={"username": elsewhere, "password": "Initial-Pass-2026"}
    )
    assert other.status_code == 200


async def test_no_admin_is_approved_for_an_organisation_whose_dissolution_was_applied(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, resources: Resources
) -> None:
    """org.dissolved reached identity's dissolutions queue while its copy for the tree's queue
    waits in a retry queue: an application pending for that branch is not approved."""
    branch = uuid.uuid4()
    path = [tree.root, tree.city, tree.county_a, branch]
    await deliver(
        settings,
        subscriptions,
        ORG_TREE_QUEUE,
        org_created("将撤支部", path, org_type="branch"),
        producer="org",
    )
    county_admin = caller_headers(settings.platform.internal_secret, "admin", tree.county_a)
    applied = await client.post(
        f"/orgs/{branch}/admin-applications",
        headers=county_admin,
        json={
            "responsible_name": "李四",
            "responsible_phone": "13700137000",
            "requested_username": f"x{uuid.uuid4().hex[:8]}",
            "form_document_id": str(uuid.uuid4()),
        },
    )
    assert applied.status_code == 201, applied.text
    dissolved = OrgDissolved(
        org_id=branch,
        parent_id=tree.county_a,
        path=path,
        name="将撤支部",
        org_type="branch",
        status="dissolved",
        revision=3,
        decided_on=date(2026, 12, 1),
    )
    # The dissolution being applied when the approval comes: the approval waits for it.
    async with resources.sessions() as session, session.begin():
        await org_dissolved(session, dissolved, dissolved.envelope("org"))
        approving = asyncio.create_task(
            client.post(f"/admin-applications/{applied.json()['id']}/approve", headers=county_admin)
        )
        await asyncio.sleep(0.5)
        assert not approving.done()  # waiting for the organisation's row
    approved = await approving
    assert approved.status_code == 409 and approved.json()["code"] == "org.not_active"


async def test_the_branch_finds_a_members_account_to_help_with_a_forgotten_password(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree
) -> None:
    member_no = await deliver_member_created(settings, tree.county_a, "王小刚")
    admin = caller_headers(settings.platform.internal_secret, "admin", tree.county_a)
    codes = (await client.get(f"/orgs/{tree.county_a}/activation-codes", headers=admin)).json()
    member_id = next(i["member_id"] for i in codes["items"] if i["username"] == member_no)

    found = await client.get(f"/members/{member_id}/account", headers=admin)
    assert found.status_code == 200
    account = found.json()
    assert account["username"] == member_no and account["status"] == "pending_activation"
    reset = await client.post(f"/accounts/{account['id']}/one-time-code", headers=admin)
    assert reset.status_code == 201
    activated = await client.post(
        "/auth/activate",
        json={
            "username": member_no,
            "activation_code": reset.json()["code"],
            "new_password": "Member-Pass-2026",
        },
    )
    assert activated.status_code == 204

    other = caller_headers(settings.platform.internal_secret, "admin", tree.county_b)
    hidden = await client.get(f"/members/{member_id}/account", headers=other)
    assert hidden.status_code == 404 and hidden.json()["code"] == "account.not_found"
    unknown = await client.get(f"/members/{uuid.uuid4()}/account", headers=admin)
    assert unknown.status_code == 404
