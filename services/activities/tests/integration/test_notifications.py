"""The one inbox: other services' events become notices for the member and the branches'
admins; a dues month reaches every member of each listed branch; reading one, reading all, the
unread count and pages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

import httpx

from activities.settings import ActivitiesSettings
from shared.events import (
    BillsGenerated,
    BranchBills,
    MemberChangeRejected,
    TransferCompleted,
    TransferRequested,
)
from shared.testing import all_pages

from .conftest import Headers, Tree, new_members, notify

Admin = Callable[[uuid.UUID], Headers]
Member = Callable[[uuid.UUID, uuid.UUID], Headers]


async def test_every_transfer_step_reaches_the_member_and_both_branches(
    client: httpx.AsyncClient,
    settings: ActivitiesSettings,
    tree: Tree,
    admin: Admin,
    member: Member,
) -> None:
    [mover] = await new_members(settings, tree.branch_a, 1)
    transfer = uuid.uuid4()
    common = {
        "transfer_id": transfer,
        "member_id": mover,
        "from_branch_id": tree.branch_a,
        "to_branch_id": tree.branch_b,
    }
    await notify(
        settings,
        TransferRequested(**common, due_by=date(2026, 12, 10)),
        TransferCompleted(**common),
    )
    mine = (await client.get("/me/notifications", headers=member(mover, tree.branch_a))).json()
    assert [n["kind"] for n in mine["items"]] == ["transfer.completed", "transfer.requested"]
    assert mine["items"][1]["title"] == "组织关系转接申请已提交"
    assert "2026年12月10日" in mine["items"][1]["body"]
    assert mine["items"][0]["link"] == {"transfer_id": str(transfer)}
    assert mine["unread"] == 2
    for branch in (tree.branch_a, tree.branch_b):
        theirs = (await client.get("/me/notifications", headers=admin(branch))).json()
        assert [n["kind"] for n in theirs["items"]] == ["transfer.completed", "transfer.requested"]
    # The county above is not the branch: its inbox stays empty.
    county = (await client.get("/me/notifications", headers=admin(tree.county_a))).json()
    assert county["items"] == []


async def test_a_dues_month_tells_every_member_of_each_listed_branch_and_its_admins(
    client: httpx.AsyncClient,
    settings: ActivitiesSettings,
    tree: Tree,
    admin: Admin,
    member: Member,
) -> None:
    in_a = await new_members(settings, tree.branch_a, 3)
    [in_b] = await new_members(settings, tree.branch_b, 1)
    await notify(
        settings,
        BillsGenerated(
            month="2027-01",
            chunk_no=1,
            branches=[BranchBills(branch_id=tree.branch_a, bills=3, due_fen=4_520)],
        ),
    )
    for m in in_a:
        [bill] = (await client.get("/me/notifications", headers=member(m, tree.branch_a))).json()[
            "items"
        ]
        assert (bill["kind"], bill["title"]) == ("fee.bills_generated", "2027年1月团费待缴纳")
    branch = (await client.get("/me/notifications", headers=admin(tree.branch_a))).json()
    assert [n["body"] for n in branch["items"]] == ["本支部3名团员应交团费合计45.20元。"]
    other = (await client.get("/me/notifications", headers=member(in_b, tree.branch_b))).json()
    assert other["items"] == []


async def test_reading_one_reading_all_the_count_and_the_pages(
    client: httpx.AsyncClient, settings: ActivitiesSettings, tree: Tree, member: Member
) -> None:
    [me] = await new_members(settings, tree.branch_a, 1)
    [someone] = await new_members(settings, tree.branch_a, 1)
    rejections = [
        MemberChangeRejected(
            member_id=me,
            branch_id=tree.branch_a,
            request_id=uuid.uuid4(),
            kind="change_request",
            fields=["employer"],
            reason=f"单位名称有误{i}",
        )
        for i in range(7)
    ]
    await notify(settings, *rejections)
    headers = member(me, tree.branch_a)
    pages = await all_pages(client, "/me/notifications", headers, limit=3)
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    ids = [n["id"] for p in pages for n in p["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first, none twice
    count = await client.get("/me/notifications/unread-count", headers=headers)
    assert count.json() == {"unread": 7}

    assert (await client.post(f"/notifications/{ids[0]}/read", headers=headers)).status_code == 204
    assert (await client.post(f"/notifications/{ids[0]}/read", headers=headers)).status_code == 204
    unread = (await client.get("/me/notifications?unread=true", headers=headers)).json()
    assert ids[0] not in {n["id"] for n in unread["items"]} and unread["unread"] == 6
    # Another member's notification is not yours to read.
    stranger = member(someone, tree.branch_a)
    refused = await client.post(f"/notifications/{ids[1]}/read", headers=stranger)
    assert refused.status_code == 404 and refused.json()["code"] == "notification.not_found"

    assert (await client.post("/me/notifications/read-all", headers=headers)).status_code == 204
    count = await client.get("/me/notifications/unread-count", headers=headers)
    assert count.json() == {"unread": 0}
    bad = await client.get("/me/notifications", params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "request.bad_cursor"
