"""Dissolution (撤销) in two steps on a real database: refused with the counts while anything
remains, `dissolving` at once, `dissolved` when the events confirm it is still empty."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from org.handlers import (
    DISSOLUTIONS_QUEUE,
    MEMBER_COUNT_QUEUE,
    TRANSFERS_QUEUE,
    member_counts,
    subscriptions,
)
from org.settings import OrgSettings
from shared.events import (
    Envelope,
    Event,
    ImportedMember,
    MemberDeparted,
    MembersImported,
    MemberTransferred,
    OrgUpdated,
    TransferRejected,
    TransferRequested,
)
from shared.process import resources_of
from shared.testing import deliver, planned_as_for_a_province, until_waiting_for_a_lock

from .test_org_api import admin, create

BODY = {"decided_on": str(date.today()), "reason": "机构调整"}


async def events(settings: OrgSettings, queue: str, *sent: Event) -> None:
    await deliver(settings, subscriptions, queue, *sent)


async def confirmed(settings: OrgSettings, org: dict[str, Any]) -> None:
    """The org service's own `dissolving` announcement, back from the broker."""
    await events(
        settings,
        DISSOLUTIONS_QUEUE,
        OrgUpdated(
            org_id=uuid.UUID(org["id"]),
            parent_id=uuid.UUID(org["parent_id"]),
            path=org["path"],
            name=org["name"],
            org_type=org["type"],
            status="dissolving",
            revision=2,
            changed_fields=["status"],
        ),
    )


async def read(client: httpx.AsyncClient, settings: OrgSettings, org: dict[str, Any]) -> Any:
    return (await client.get(f"/orgs/{org['id']}", headers=admin(settings, org["id"]))).json()


async def test_a_committee_waits_for_its_child_and_both_end_dissolved(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str, outbox_types
) -> None:
    headers = admin(settings, root_id)
    parent = (await create(client, headers, root_id, f"待撤{uuid.uuid4().hex[:6]}")).json()
    child = (await create(client, headers, parent["id"], "下级支部", "branch")).json()
    r = await client.post(f"/orgs/{parent['id']}/dissolution", json=BODY, headers=headers)
    assert r.status_code == 409
    assert (r.json()["code"], r.json()["active_children"], r.json()["members"]) == (
        "org.not_empty",
        1,
        0,
    )
    r = await client.post(f"/orgs/{child['id']}/dissolution", json=BODY, headers=headers)
    assert r.status_code == 202 and r.json()["status"] == "dissolving"
    assert (await outbox_types())[-1] == "org.updated"
    # Still a child until dissolved.
    r = await client.post(f"/orgs/{parent['id']}/dissolution", json=BODY, headers=headers)
    assert r.status_code == 409 and r.json()["active_children"] == 1
    again = await client.post(f"/orgs/{child['id']}/dissolution", json=BODY, headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "org.already_dissolved"

    await confirmed(settings, child)
    assert (await read(client, settings, child))["status"] == "dissolved"
    assert (await outbox_types())[-1] == "org.dissolved"
    r = await client.post(f"/orgs/{parent['id']}/dissolution", json=BODY, headers=headers)
    assert r.status_code == 202
    await confirmed(settings, parent)
    await confirmed(settings, parent)  # told twice, dissolved once
    assert (await read(client, settings, parent))["status"] == "dissolved"
    assert (await outbox_types())[-1] == "org.dissolved"


async def test_members_and_transfers_in_keep_a_branch_from_dissolving_until_they_are_gone(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    headers = admin(settings, root_id)
    branch = (
        await create(client, headers, root_id, f"有人支部{uuid.uuid4().hex[:6]}", "branch")
    ).json()
    branch_id = uuid.UUID(branch["id"])
    member = ImportedMember(
        member_id=uuid.uuid4(), member_no="202600000001", name="甲", joined_on=date(2020, 1, 1)
    )
    await events(
        settings, MEMBER_COUNT_QUEUE, MembersImported(branch_id=branch_id, members=[member])
    )
    ids = {
        "transfer_id": uuid.uuid4(),
        "member_id": uuid.uuid4(),
        "from_branch_id": uuid.uuid4(),
        "to_branch_id": branch_id,
    }
    await events(
        settings, TRANSFERS_QUEUE, TransferRequested(**ids, due_by=date.today() + timedelta(7))
    )
    r = await client.post(f"/orgs/{branch['id']}/dissolution", json=BODY, headers=headers)
    assert r.status_code == 409
    body = r.json()
    assert (body["members"], body["incoming_transfers"]) == (1, 1)

    # The member leaves, the transfer in is refused: then it dissolves.
    await events(
        settings,
        MEMBER_COUNT_QUEUE,
        MemberDeparted(
            member_id=member.member_id, branch_id=branch_id, reason="over_age", on=date.today()
        ),
    )
    await events(settings, TRANSFERS_QUEUE, TransferRejected(**ids, at="in"))
    r = await client.post(f"/orgs/{branch['id']}/dissolution", json=BODY, headers=headers)
    assert r.status_code == 202 and r.json()["member_count"] == 0


async def test_a_transfer_in_that_arrives_while_dissolving_holds_it_until_it_ends(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    headers = admin(settings, root_id)
    branch = (
        await create(client, headers, root_id, f"迟到支部{uuid.uuid4().hex[:6]}", "branch")
    ).json()
    assert (
        await client.post(f"/orgs/{branch['id']}/dissolution", json=BODY, headers=headers)
    ).status_code == 202
    # Asked for just before the transfers service heard of the dissolution.
    ids = {
        "transfer_id": uuid.uuid4(),
        "member_id": uuid.uuid4(),
        "from_branch_id": uuid.uuid4(),
        "to_branch_id": uuid.UUID(branch["id"]),
    }
    await events(
        settings, TRANSFERS_QUEUE, TransferRequested(**ids, due_by=date.today() + timedelta(7))
    )
    await confirmed(settings, branch)
    assert (await read(client, settings, branch))["status"] == "dissolving"
    # The in-approval refuses it (transfer.target_inactive); that end completes the dissolution.
    await events(
        settings, TRANSFERS_QUEUE, TransferRejected(**ids, at="in", code="transfer.target_inactive")
    )
    assert (await read(client, settings, branch))["status"] == "dissolved"


async def test_a_dissolution_recorded_after_its_deadline_is_marked_late(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    headers = admin(settings, root_id)
    branch = (
        await create(client, headers, root_id, f"晚撤支部{uuid.uuid4().hex[:6]}", "branch")
    ).json()
    decided = {"decided_on": str(date.today() - timedelta(days=60)), "reason": "合并"}
    r = await client.post(f"/orgs/{branch['id']}/dissolution", json=decided, headers=headers)
    assert r.status_code == 202 and r.json()["dissolution_late"] is True
    on_time = (
        await create(client, headers, root_id, f"按时支部{uuid.uuid4().hex[:6]}", "branch")
    ).json()
    r = await client.post(f"/orgs/{on_time['id']}/dissolution", json=BODY, headers=headers)
    assert r.json()["dissolution_late"] is False


async def test_two_processes_counting_transfers_both_ways_between_two_branches_both_commit(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    """Two consumer processes of the member counts, one with a transfer from X to Y, the other
    with one from Y to X: each locks both branches' rows, in id order, so the second waits for
    the first, where each batch's own order deadlocked (one batch rolled back, a retry later)."""
    headers = admin(settings, root_id)
    x, y = [
        (await create(client, headers, root_id, f"计数{uuid.uuid4().hex[:6]}", "branch")).json()
        for _ in range(2)
    ]
    ids = {org["id"]: uuid.UUID(org["id"]) for org in (x, y)}

    def moved(old: dict[str, Any], new: dict[str, Any]) -> tuple[Event, Envelope]:
        event = MemberTransferred(
            member_id=uuid.uuid4(),
            transfer_id=uuid.uuid4(),
            from_branch_id=ids[old["id"]],
            to_branch_id=ids[new["id"]],
            from_path=old["path"],
            to_path=new["path"],
        )
        return event, event.envelope("members")

    async with resources_of(settings) as resources:
        sessions = resources.sessions

        async def count(session: AsyncSession, batch: list[tuple[Event, Envelope]]) -> None:
            await session.begin()
            await planned_as_for_a_province(session)
            await member_counts(session, batch)
            await session.commit()

        async with sessions() as holder, sessions() as one, sessions() as other:
            # The first branch's row held, so that each batch is stopped at its first lock: in
            # its own order, one would then hold Y and wait for X, the other the reverse.
            await holder.begin()
            await holder.execute(
                text("SELECT 1 FROM orgs WHERE id = :id FOR UPDATE"), {"id": ids[x["id"]]}
            )
            first = asyncio.create_task(count(one, [moved(x, y)]))
            await until_waiting_for_a_lock(sessions, first)
            second = asyncio.create_task(count(other, [moved(y, x)]))
            await asyncio.sleep(0.3)  # the second batch meets the locks
            await holder.commit()
            failed = await asyncio.gather(first, second, return_exceptions=True)
            assert failed == [None, None], failed  # no batch deadlocked
    for org in (x, y):
        assert (await read(client, settings, org))["member_count"] == 0  # one out, one in
