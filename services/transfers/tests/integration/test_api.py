"""The transfer routes in-process (the service is not behind the gateway yet): a member asks,
both branches review in turn, and each side reads the transfer and its lists."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from shared.testing import caller_headers, seed_branch_tree
from shared.testing_app import running_app
from transfers.main import create_app
from transfers.settings import TransfersSettings

from .conftest import Tree

NewMember = Callable[[uuid.UUID], Awaitable[uuid.UUID]]


@pytest.fixture(scope="module")
async def client(settings: TransfersSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def admin(settings: TransfersSettings) -> Callable[[uuid.UUID], dict[str, str]]:
    def headers(org: uuid.UUID) -> dict[str, str]:
        return caller_headers(settings.platform.internal_secret, "admin", org, uuid.uuid4())

    return headers


async def test_a_transfer_through_its_routes_as_each_side_sees_it(
    client: httpx.AsyncClient,
    settings: TransfersSettings,
    tree: Tree,
    new_member: NewMember,
    admin: Callable[[uuid.UUID], dict[str, str]],
) -> None:
    member = await new_member(tree.branch_a)
    me = caller_headers(
        settings.platform.internal_secret, "member", tree.branch_a, uuid.uuid4(), member
    )
    body = {"member_id": str(member), "to_org_id": str(tree.branch_b), "reason": "employment"}
    asked = await client.post("/transfers", json=body, headers=me)
    assert asked.status_code == 201, asked.text
    transfer = asked.json()
    assert transfer["status"] == "pending_out" and transfer["due_by"]

    wrong_turn = await client.post(
        f"/transfers/{transfer['id']}/approve", headers=admin(tree.branch_b)
    )
    assert wrong_turn.status_code == 409 and wrong_turn.json()["code"] == "transfer.not_your_turn"
    out = await client.post(f"/transfers/{transfer['id']}/approve", headers=admin(tree.county_a))
    assert out.status_code == 200 and out.json()["status"] == "pending_in"
    note = await client.post(
        f"/transfers/{transfer['id']}/delay-note",
        json={"reason": "书记出差"},
        headers=admin(tree.branch_b),
    )
    assert note.status_code == 201, note.text

    incoming = await client.get(
        "/transfers",
        params={"org_id": str(tree.county_b), "direction": "in"},
        headers=admin(tree.county_b),
    )
    assert incoming.status_code == 200
    assert [t["id"] for t in incoming.json()["items"]] == [transfer["id"]]
    assert incoming.json()["items"][0]["overdue"] is False
    outgoing_of_b = await client.get(
        "/transfers", params={"org_id": str(tree.county_b)}, headers=admin(tree.county_b)
    )
    assert transfer["id"] not in [t["id"] for t in outgoing_of_b.json()["items"]]
    other = await client.get(
        "/transfers", params={"org_id": str(tree.county_a)}, headers=admin(tree.county_b)
    )
    assert other.status_code == 403

    done = await client.post(f"/transfers/{transfer['id']}/approve", headers=admin(tree.branch_b))
    assert done.status_code == 200 and done.json()["status"] == "completed"
    history = await client.get(f"/transfers/{transfer['id']}", headers=me)
    assert history.status_code == 200
    assert [s["step"] for s in history.json()["steps"]] == [
        "requested",
        "out_approved",
        "completed",
    ]
    assert history.json()["delay_notes"][0]["reason"] == "书记出差"
    stranger = await client.get(f"/transfers/{transfer['id']}", headers=admin(uuid.uuid4()))
    assert stranger.status_code == 404 and stranger.json()["code"] == "transfer.not_found"

    # The member's own list (我的转接), and the new branch's view of it; a stranger sees none.
    mine = await client.get(f"/members/{member}/transfers", headers=me)
    assert mine.status_code == 200
    assert [(t["id"], t["status"]) for t in mine.json()["items"]] == [(transfer["id"], "completed")]
    theirs = await client.get(f"/members/{member}/transfers", headers=admin(tree.county_b))
    assert [t["id"] for t in theirs.json()["items"]] == [transfer["id"]]
    unseen = await client.get(f"/members/{member}/transfers", headers=admin(uuid.uuid4()))
    assert unseen.status_code == 200 and unseen.json()["items"] == []


async def test_a_request_the_contract_refuses_is_a_problem(
    client: httpx.AsyncClient,
    tree: Tree,
    new_member: NewMember,
    admin: Callable[[uuid.UUID], dict[str, str]],
) -> None:
    member = await new_member(tree.branch_a)
    bad = await client.post(
        "/transfers",
        json={"member_id": str(member), "to_org_id": str(tree.branch_b), "reason": "holiday"},
        headers=admin(tree.branch_a),
    )
    assert bad.status_code == 422 and bad.json()["code"] == "request.invalid"
    same = await client.post(
        "/transfers",
        json={"member_id": str(member), "to_org_id": str(tree.branch_a), "reason": "other"},
        headers=admin(tree.branch_a),
    )
    assert same.status_code == 422 and same.json()["code"] == "transfer.same_branch"
    blank = await client.post(
        f"/transfers/{uuid.uuid4()}/reject", json={"reason": "  "}, headers=admin(tree.branch_a)
    )
    assert blank.status_code == 422


async def test_timeliness_counts_each_branchs_reviews_due_in_the_year_over_a_subtree(
    client: httpx.AsyncClient,
    settings: TransfersSettings,
    sessions,
    new_member: NewMember,
    admin: Callable[[uuid.UUID], dict[str, str]],
    db,
) -> None:
    tree = await seed_branch_tree(sessions)  # a subtree of its own: nothing else counted

    async def request(member: uuid.UUID) -> str:
        body = {"member_id": str(member), "to_org_id": str(tree.branch_b), "reason": "other"}
        asked = await client.post("/transfers", json=body, headers=admin(tree.branch_a))
        assert asked.status_code == 201, asked.text
        return str(asked.json()["id"])

    async def approve(transfer: str, by: uuid.UUID) -> None:
        r = await client.post(f"/transfers/{transfer}/approve", headers=admin(by))
        assert r.status_code == 200, r.text

    # On time at both branches (dated into 2025 by hand: the service dates steps today).
    on_time = await request(await new_member(tree.branch_a))
    await approve(on_time, tree.branch_a)
    await approve(on_time, tree.branch_b)
    await db(
        "UPDATE transfer_steps SET due_by = '2025-03-10', taken_on = '2025-03-05' "
        "WHERE transfer_id = :t",
        t=uuid.UUID(on_time),
    )
    # Still waiting at branch A well past its due date: late.
    waiting = await request(await new_member(tree.branch_a))
    # Let go by branch A after its due date: late; now at branch B, not due yet.
    released_late = await request(await new_member(tree.branch_a))
    await db(
        "UPDATE transfers SET due_by = '2025-03-01' WHERE id = ANY(:ids)",
        ids=[uuid.UUID(waiting), uuid.UUID(released_late)],
    )
    await approve(released_late, tree.branch_a)

    system = caller_headers(settings.platform.internal_secret, "system", None)
    r = await client.get(
        f"/internal/orgs/{tree.city}/assessment/transfer-timeliness",
        params={"year": 2025},
        headers=system,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["denominator"], body["numerator"], body["rate"]) == (4, 2, 0.5)
    by_child = {c["org_id"]: (c["denominator"], c["numerator"]) for c in body["children"]}
    assert by_child == {str(tree.county_a): (3, 1), str(tree.county_b): (1, 1)}
    none = await client.get(
        f"/internal/orgs/{tree.city}/assessment/transfer-timeliness",
        params={"year": 2024},
        headers=system,
    )
    assert (none.json()["denominator"], none.json()["rate"], none.json()["children"]) == (
        0,
        None,
        [],
    )
    as_admin = await client.get(
        f"/internal/orgs/{tree.city}/assessment/transfer-timeliness",
        params={"year": 2025},
        headers=admin(tree.root),
    )
    assert as_admin.status_code == 403
