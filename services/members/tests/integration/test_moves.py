"""The members side of a transfer (held while open, moved on completion, events in any order)
and departures, on a real database through the service's real consumer."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx

from members.fakes import person
from members.handlers import TRANSFERS_QUEUE, subscriptions
from members.settings import MembersSettings
from shared.calendar import beijing_today
from shared.events import (
    TransferCancelled,
    TransferCompleted,
    TransferEvent,
    TransferRejected,
    TransferRequested,
)
from shared.testing import deliver

from .conftest import Tree

rng = random.Random(20261203)


async def new_member(client: httpx.AsyncClient, admin: Callable, branch: uuid.UUID) -> Any:
    r = await client.post(f"/orgs/{branch}/members", json=person(rng), headers=admin(branch))
    assert r.status_code == 201, r.text
    return r.json()


def steps(member: dict[str, Any], to: uuid.UUID) -> dict[str, TransferEvent]:
    """Every step of one transfer of `member` to branch `to`."""
    ids = {
        "transfer_id": uuid.uuid4(),
        "member_id": uuid.UUID(member["id"]),
        "from_branch_id": uuid.UUID(member["branch_id"]),
        "to_branch_id": to,
    }
    due = date(2026, 12, 10)
    return {
        "requested": TransferRequested(**ids, due_by=due),
        "completed": TransferCompleted(**ids),
        "rejected": TransferRejected(**ids, at="out"),
        "cancelled": TransferCancelled(**ids),
    }


async def step(settings: MembersSettings, *events: TransferEvent) -> None:
    await deliver(settings, subscriptions, TRANSFERS_QUEUE, *events, producer="transfers")


async def read(client: httpx.AsyncClient, headers: dict[str, str], member: Any) -> httpx.Response:
    return await client.get(f"/members/{member['id']}", headers=headers)


async def test_a_requested_transfer_holds_the_record_until_it_is_rejected(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, settings: MembersSettings
) -> None:
    member = await new_member(client, admin, tree.branch_a)
    transfer = steps(member, tree.branch_b)
    await step(settings, transfer["requested"])
    assert (await read(client, admin(tree.branch_a), member)).json()["status"] == "transferring"
    edit = await client.patch(
        f"/members/{member['id']}", json={"employer": "新单位"}, headers=admin(tree.branch_a)
    )
    assert edit.status_code == 409 and edit.json()["code"] == "member.not_active"
    await step(settings, transfer["rejected"], transfer["rejected"])  # delivered twice
    body = (await read(client, admin(tree.branch_a), member)).json()
    assert (body["status"], body["branch_id"]) == ("active", member["branch_id"])


async def test_a_completed_transfer_moves_the_record_and_its_pending_reviews(
    client: httpx.AsyncClient,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    settings: MembersSettings,
    db,
) -> None:
    member = await new_member(client, admin, tree.branch_a)
    edit = await client.patch(
        f"/members/{member['id']}", json={"employer": "甲县某厂"}, headers=member_caller(member)
    )
    assert edit.status_code == 200, edit.text
    transfer = steps(member, tree.branch_b)
    await step(settings, transfer["requested"], transfer["completed"])

    assert (await read(client, admin(tree.branch_a), member)).status_code == 404
    body = (await read(client, admin(tree.branch_b), member)).json()
    assert (body["status"], body["branch_id"]) == ("active", str(tree.branch_b))
    # The self-edit awaiting review is the new branch's to decide now.
    [review] = await db(
        "SELECT branch_id FROM reviews WHERE member_id = :m AND status = 'pending'",
        m=uuid.UUID(member["id"]),
    )
    assert review.branch_id == tree.branch_b
    [event] = await db(
        "SELECT envelope AS payload FROM outbox WHERE type = 'member.transferred' "
        "AND envelope->'data'->>'member_id' = :m",
        m=member["id"],
    )
    data = event.payload["data"]
    assert (data["from_branch_id"], data["to_branch_id"]) == (
        member["branch_id"],
        str(tree.branch_b),
    )
    assert data["to_path"] == [str(p) for p in (tree.root, tree.city, tree.county_b, tree.branch_b)]


async def test_a_step_that_overtakes_the_request_leaves_the_member_free(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, settings: MembersSettings
) -> None:
    """The relay's lanes do not keep order: a cancellation may arrive before its request."""
    member = await new_member(client, admin, tree.branch_a)
    transfer = steps(member, tree.branch_b)
    await step(settings, transfer["cancelled"], transfer["requested"])
    assert (await read(client, admin(tree.branch_a), member)).json()["status"] == "active"

    moved = await new_member(client, admin, tree.branch_a)
    transfer = steps(moved, tree.branch_b)
    await step(settings, transfer["completed"], transfer["requested"])
    body = (await read(client, admin(tree.branch_b), moved)).json()
    assert (body["status"], body["branch_id"]) == ("active", str(tree.branch_b))


async def test_a_departure_ends_the_record_once(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, settings: MembersSettings, db
) -> None:
    member = await new_member(client, admin, tree.branch_a)
    on = beijing_today()
    r = await client.post(
        f"/members/{member['id']}/departure",
        json={"reason": "over_age", "on": on.isoformat()},
        headers=admin(tree.county_a),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["departure_reason"]) == ("left", "over_age")
    again = await client.post(
        f"/members/{member['id']}/departure",
        json={"reason": "other", "on": on.isoformat()},
        headers=admin(tree.branch_a),
    )
    assert again.status_code == 409 and again.json()["code"] == "member.not_active"
    [event] = await db(
        "SELECT envelope AS payload FROM outbox WHERE type = 'member.departed' "
        "AND envelope->'data'->>'member_id' = :m",
        m=member["id"],
    )
    assert event.payload["data"]["reason"] == "over_age"
    # A transfer that raced the departure does not bring the record back.
    transfer = steps(member, tree.branch_b)
    await step(settings, transfer["requested"], transfer["completed"])
    body = (await read(client, admin(tree.branch_a), member)).json()
    assert (body["status"], body["branch_id"]) == ("left", member["branch_id"])
    # And transfers hears that it was not followed, for it not to stand as completed.
    [refused] = await db(
        "SELECT envelope->'data' AS data FROM outbox WHERE type = 'member.transfer_refused' "
        "AND envelope->'data'->>'member_id' = :m",
        m=member["id"],
    )
    assert refused.data["transfer_id"] == str(transfer["completed"].transfer_id)
    assert refused.data["reason"] == "departed"


async def test_a_departure_is_refused_while_transferring_out_of_scope_or_in_the_future(
    client: httpx.AsyncClient,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    settings: MembersSettings,
) -> None:
    member = await new_member(client, admin, tree.branch_a)
    today = beijing_today().isoformat()
    url = f"/members/{member['id']}/departure"
    other = await client.post(
        url, json={"reason": "other", "on": today}, headers=admin(tree.county_b)
    )
    assert other.status_code == 404
    own = await client.post(
        url, json={"reason": "other", "on": today}, headers=member_caller(member)
    )
    assert own.status_code == 403
    future = (beijing_today() + timedelta(days=1)).isoformat()
    ahead = await client.post(
        url, json={"reason": "other", "on": future}, headers=admin(tree.branch_a)
    )
    assert ahead.status_code == 422 and ahead.json()["code"] == "member.departure_in_future"
    bad = await client.post(
        url, json={"reason": "bored", "on": today}, headers=admin(tree.branch_a)
    )
    assert bad.status_code == 422

    await step(settings, steps(member, tree.branch_b)["requested"])
    held = await client.post(
        url, json={"reason": "other", "on": today}, headers=admin(tree.branch_a)
    )
    assert held.status_code == 409 and held.json()["code"] == "member.transfer_open"
