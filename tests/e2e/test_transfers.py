"""Transfers end to end through the gateway: a member moves from a branch in county A to one in
county B across every service (records, accounts, counts, dues copy, scopes); rejects, cancel,
one open transfer at a time, no transfer into a dissolving branch; and a branch dissolves once
its members are transferred out or have left."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import httpx
import pytest

from members.fakes import as_csv, people
from shared.calendar import beijing_today

from .conftest import (
    MEMBER_PASSWORD,
    Api,
    Running,
    Tree,
    activate_member,
    eventually,
    first_login,
    login,
)
from .test_platform import approve_admin

PASSWORD = MEMBER_PASSWORD
STATUS_OF_ACCOUNT = "SELECT status FROM accounts WHERE member_id = $1"
STATUS_IN_FEES = "SELECT status FROM fee_members WHERE member_id = $1"
COPIED = "SELECT count(*) AS n FROM transfer_members WHERE branch_id = $1"
MEMBERS_BY_BRANCH = (
    "SELECT branch_id AS branch, count(*) AS n FROM members WHERE branch_id = ANY($1) GROUP BY 1"
)
FEES_BY_BRANCH = (
    "SELECT branch_id AS branch, count(*) AS n FROM fee_members "
    "WHERE branch_id = ANY($1) AND status = 'active' GROUP BY 1"
)
ACCOUNTS_BY_BRANCH = (
    "SELECT org_id AS branch, count(*) AS n FROM accounts "
    "WHERE org_id = ANY($1) AND role = 'member' GROUP BY 1"
)
MOVES_TOLD = (
    "SELECT count(*) AS n FROM outbox WHERE type = 'member.transferred' "
    "AND CAST(envelope->'data'->>'member_id' AS uuid) = ANY($1)"
)
STILL_HELD = "SELECT count(*) AS n FROM members WHERE branch_id IN ($1, $2) AND status <> 'active'"


class Branches:
    """Two fresh branches, one under each county, with their counties' admins logged in."""

    def __init__(self, running: Running, root_admin: Api, tree: Tree) -> None:
        tag = uuid.uuid4().hex[:4]
        self.a = root_admin.create_org(tree.county_a, f"甲县转接支部{tag}", "branch").json()["id"]
        self.b = root_admin.create_org(tree.county_b, f"乙县转接支部{tag}", "branch").json()["id"]
        self.county_a = county_admin(running, root_admin, tree.county_a, f"ta{tag}")
        self.county_b = county_admin(running, root_admin, tree.county_b, f"tb{tag}")


def county_admin(running: Running, root_admin: Api, county: str, username: str) -> Api:
    approved = approve_admin(root_admin, county, username)
    return first_login(
        running.system.gateway_url, approved["username"], approved["initial_password"]
    )


@pytest.fixture(scope="module")
def branches(running: Running, root_admin: Api, tree: Tree) -> Branches:
    return Branches(running, root_admin, tree)


def import_members(admin: Api, branch: str, n: int, seed: int) -> list[dict[str, Any]]:
    r = admin.post(
        f"/orgs/{branch}/members/import",
        files={"file": ("团员.csv", as_csv(list(people(n, random.Random(seed)))))},
    )
    assert r.status_code == 200, r.text[:300]
    return list(r.json()["members"])


def request_transfer(api: Api, member: str, to: str) -> httpx.Response:
    """Asked as soon as the transfers service's copy has the member (it comes by events)."""
    body = {"member_id": member, "to_org_id": to, "reason": "employment", "note": "工作调动"}
    return eventually(
        lambda: (r := api.post("/transfers", json=body)).status_code != 404 and r,
        within=30,
        interval=0.3,
    )


def member_count(api: Api, org: str) -> int:
    return int(api.get(f"/orgs/{org}").json()["member_count"])


def activate(running: Running, admin: Api, branch: str, record: dict[str, Any]) -> None:
    activate_member(running, admin, branch, record)


def test_a_member_moves_from_county_a_to_county_b_everywhere(
    running: Running, root_admin: Api, branches: Branches
) -> None:
    a, b = branches.county_a, branches.county_b
    [mover, stayer] = import_members(a, branches.a, 2, seed=801)
    activate(running, a, branches.a, mover)
    eventually(lambda: member_count(a, branches.a) == 2, within=30, interval=0.3)
    assert a.get(f"/members/{mover['id']}").status_code == 200
    assert b.get(f"/members/{mover['id']}").status_code == 404

    requested = request_transfer(a, mover["id"], branches.b)
    assert requested.status_code == 201, requested.text
    transfer = requested.json()["id"]
    assert requested.json()["status"] == "pending_out"
    # Held while open: the record cannot be edited nor moved a second way.
    eventually(
        lambda: a.get(f"/members/{mover['id']}").json()["status"] == "transferring", within=30
    )
    edit = a.patch(f"/members/{mover['id']}", json={"employer": "新单位"})
    assert edit.status_code == 409 and edit.json()["code"] == "member.not_active"
    # Not county B's turn yet; county A lets the member go, then B takes the member in.
    early = b.post(f"/transfers/{transfer}/approve")
    assert early.status_code in (403, 409), early.text
    out = a.post(f"/transfers/{transfer}/approve")
    assert out.status_code == 200 and out.json()["status"] == "pending_in", out.text
    assert a.post(f"/transfers/{transfer}/approve").status_code in (403, 409)
    done = b.post(f"/transfers/{transfer}/approve")
    assert done.status_code == 200 and done.json()["status"] == "completed", done.text

    # The record, its scopes, the counts, the dues copy and the account all follow.
    moved = eventually(
        lambda: (r := b.get(f"/members/{mover['id']}")).status_code == 200 and r.json(),
        within=30,
        interval=0.3,
    )
    assert (moved["branch_id"], moved["status"]) == (branches.b, "active")
    assert a.get(f"/members/{mover['id']}").status_code == 404
    assert a.get(f"/members/{stayer['id']}").status_code == 200
    eventually(
        lambda: (member_count(a, branches.a), member_count(b, branches.b)) == (1, 1), within=30
    )
    eventually(
        lambda: (
            running.db(
                "fees",
                "SELECT branch_id::text AS b FROM fee_members WHERE member_id = $1",
                uuid.UUID(mover["id"]),
            )[0]["b"]
            == branches.b
        ),
        within=30,
    )
    eventually(
        lambda: (
            (r := login(running.system.gateway_url, mover["member_no"], PASSWORD)).status_code
            == 200
            and r.json()["account"]["org_id"] == branches.b
        ),
        within=30,
        interval=0.3,
    )
    member = Api(
        running.system.gateway_url,
        login(running.system.gateway_url, mover["member_no"], PASSWORD).json()["access_token"],
    )
    assert member.get(f"/members/{mover['id']}").json()["branch_id"] == branches.b
    # The history, readable by the member and both sides, says who did what.
    for reader in (member, a, b):
        history = reader.get(f"/transfers/{transfer}")
        assert history.status_code == 200, history.text
    steps = [s["step"] for s in member.get(f"/transfers/{transfer}").json()["steps"]]
    assert steps == ["requested", "out_approved", "completed"]


def test_rejects_at_either_step_and_a_cancel_leave_the_member_where_they_were(
    running: Running, root_admin: Api, branches: Branches
) -> None:
    a, b = branches.county_a, branches.county_b
    [first, second, third] = import_members(a, branches.a, 3, seed=802)

    out_rejected = request_transfer(a, first["id"], branches.b).json()["id"]
    assert a.post(f"/transfers/{out_rejected}/reject", json={"reason": " "}).status_code == 422
    r = a.post(f"/transfers/{out_rejected}/reject", json={"reason": "尚有未完成的工作"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"

    in_rejected = request_transfer(a, second["id"], branches.b).json()["id"]
    assert a.post(f"/transfers/{in_rejected}/approve").status_code == 200
    r = b.post(f"/transfers/{in_rejected}/reject", json={"reason": "不在本单位工作"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"

    cancelled = request_transfer(a, third["id"], branches.b).json()["id"]
    # One open transfer a member at a time.
    twice = a.post(
        "/transfers",
        json={"member_id": third["id"], "to_org_id": branches.b, "reason": "other", "note": ""},
    )
    assert twice.status_code == 409 and twice.json()["code"] == "transfer.already_open"
    r = a.post(f"/transfers/{cancelled}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"

    for record in (first, second, third):
        eventually(
            lambda record=record: (
                (m := a.get(f"/members/{record['id']}").json())["status"] == "active"
                and m["branch_id"] == branches.a
            ),
            within=30,
        )
        assert b.get(f"/members/{record['id']}").status_code == 404


def test_no_transfer_into_a_dissolving_branch_and_dissolution_after_everyone_left(
    running: Running, root_admin: Api, tree: Tree, branches: Branches
) -> None:
    a = branches.county_a
    closing = root_admin.create_org(tree.county_a, f"待撤支部{uuid.uuid4().hex[:4]}", "branch")
    closing_id = closing.json()["id"]
    [leaver, mover] = import_members(a, closing_id, 2, seed=803)
    eventually(lambda: member_count(a, closing_id) == 2, within=30, interval=0.3)
    body = {"decided_on": str(date.today()), "reason": "单位撤并"}
    r = a.post(f"/orgs/{closing_id}/dissolution", json=body)
    assert r.status_code == 409 and (r.json()["code"], r.json()["members"]) == (
        "org.not_empty",
        2,
    )

    gone = a.post(
        f"/members/{leaver['id']}/departure",
        json={"reason": "over_age", "on": beijing_today().isoformat()},
    )
    assert gone.status_code == 200 and gone.json()["status"] == "left", gone.text
    moving = request_transfer(a, mover["id"], branches.a).json()["id"]
    assert a.post(f"/transfers/{moving}/approve").status_code == 200
    assert a.post(f"/transfers/{moving}/approve").json()["status"] == "completed"
    eventually(lambda: member_count(a, closing_id) == 0, within=30, interval=0.3)

    r = a.post(f"/orgs/{closing_id}/dissolution", json=body)
    assert r.status_code == 202 and r.json()["status"] == "dissolving", r.text
    # No one moves in meanwhile; then the org service confirms it and it is dissolved.
    [newcomer] = import_members(a, branches.a, 1, seed=804)
    into = eventually(
        lambda: (
            (
                r := a.post(
                    "/transfers",
                    json={"member_id": newcomer["id"], "to_org_id": closing_id, "reason": "other"},
                )
            ).status_code
            != 404
            and r
        ),
        within=30,
    )
    assert into.status_code == 422 and into.json()["code"] == "transfer.target_inactive"
    eventually(lambda: a.get(f"/orgs/{closing_id}").json()["status"] == "dissolved", within=30)
    # The member who left has no account to log in with, and is billed no more.
    left = uuid.UUID(leaver["id"])
    eventually(
        lambda: (
            [r["status"] for r in running.db("identity", STATUS_OF_ACCOUNT, left)] == ["disabled"]
        ),
        within=30,
    )
    eventually(
        lambda: [r["status"] for r in running.db("fees", STATUS_IN_FEES, left)] == ["left"],
        within=30,
    )


def test_200_transfers_survive_the_members_consumer_killed_mid_way(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    """kill -9 the members service's events process (consumers and relay) while 200 transfers
    complete, start it again: every member ends in exactly one branch, the new one, once, and
    the counts of org and fees agree with the members database."""
    tag = uuid.uuid4().hex[:4]
    source = root_admin.create_org(tree.county_a, f"甲县故障支部{tag}", "branch").json()["id"]
    target = root_admin.create_org(tree.county_b, f"乙县故障支部{tag}", "branch").json()["id"]
    members = [m["id"] for m in import_members(root_admin, source, 200, seed=805)]
    src, dst = uuid.UUID(source), uuid.UUID(target)
    eventually(lambda: running.db("transfers", COPIED, src)[0]["n"] == 200, within=60, interval=0.5)

    def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = root_admin.post(path, json=body) if body is not None else root_admin.post(path)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    with ThreadPoolExecutor(8) as pool:
        asked = list(
            pool.map(
                lambda m: post(
                    "/transfers", {"member_id": m, "to_org_id": target, "reason": "employment"}
                )["id"],
                members,
            )
        )
        list(pool.map(lambda t: post(f"/transfers/{t}/approve"), asked))
        completing = [pool.submit(post, f"/transfers/{t}/approve") for t in asked]
        eventually(lambda: sum(f.done() for f in completing) >= 50, within=60, interval=0.05)
        running.system.kill("members-events")
        assert all(f.result()["status"] == "completed" for f in completing)
    running.system.start("members-events")

    def counts(service: str, sql: str) -> dict[uuid.UUID, int]:
        return {r["branch"]: r["n"] for r in running.db(service, sql, [src, dst])}

    in_members = eventually(
        lambda: (c := counts("members", MEMBERS_BY_BRANCH)) == {dst: 200} and c,
        within=90,
        interval=0.5,
    )
    # One move each, never two, and nobody left holding a transfer.
    moved = running.db("members", MOVES_TOLD, [uuid.UUID(m) for m in members])
    assert moved[0]["n"] == 200
    assert running.db("members", STILL_HELD, src, dst)[0]["n"] == 0
    eventually(lambda: counts("fees", FEES_BY_BRANCH) == in_members, within=60, interval=0.5)
    eventually(
        lambda: (
            {
                uuid.UUID(o): root_admin.get(f"/orgs/{o}").json()["member_count"]
                for o in (source, target)
            }
            == {src: 0, dst: 200}
        ),
        within=60,
        interval=0.5,
    )
    eventually(
        lambda: counts("identity", ACCOUNTS_BY_BRANCH) == in_members, within=60, interval=0.5
    )
