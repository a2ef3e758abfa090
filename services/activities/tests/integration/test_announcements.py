"""Announcements and maintenance windows: everyone in the admin's subtree is told (members and
organisations), a read-only window is the province's alone and bounded, the gateway's list of
windows and the public list of what is current, a withdrawal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from activities.settings import ActivitiesSettings
from shared.testing import caller_headers

from .conftest import Headers, Tree, fan_out_commands, new_members, run_fan_out

Admin = Callable[[uuid.UUID], Headers]
Member = Callable[[uuid.UUID, uuid.UUID], Headers]
Db = Callable[..., Awaitable[list[Any]]]


def at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def notice(**fields: Any) -> dict[str, Any]:
    return {
        "title": "系统升级",
        "body": "团费在线缴纳将暂停。",
        "kind": "maintenance",
        "starts_at": at(1),
        "ends_at": at(3),
        **fields,
    }


async def test_a_county_notice_reaches_its_members_and_organisations_only(
    client: httpx.AsyncClient,
    settings: ActivitiesSettings,
    tree: Tree,
    admin: Admin,
    member: Member,
    db: Db,
) -> None:
    [in_a] = await new_members(settings, tree.branch_a, 1)
    [in_b] = await new_members(settings, tree.branch_b, 1)
    published = await client.post(
        "/announcements", json=notice(kind="notice"), headers=admin(tree.county_a)
    )
    assert published.status_code == 201, published.text
    assert published.json()["notifications"]["chunks_total"] == 2  # the members, the orgs
    await run_fan_out(settings, await fan_out_commands(db))
    rows = await db(
        "SELECT recipient_id FROM notifications WHERE link->>'announcement_id' = :a",
        a=published.json()["id"],
    )
    assert {r.recipient_id for r in rows} == {in_a, tree.county_a, tree.branch_a}
    [told] = (await client.get("/me/notifications", headers=member(in_a, tree.branch_a))).json()[
        "items"
    ]
    assert (told["kind"], told["title"]) == ("announcement.notice", "系统公告：系统升级")
    assert (await client.get("/me/notifications", headers=member(in_b, tree.branch_b))).json()[
        "items"
    ] == []
    # Current for who is under the county (and the county itself), not for the other county.
    mine = await client.get("/announcements/active", headers=member(in_a, tree.branch_a))
    assert published.json()["id"] in {a["id"] for a in mine.json()["items"]}
    theirs = await client.get("/announcements/active", headers=member(in_b, tree.branch_b))
    assert published.json()["id"] not in {a["id"] for a in theirs.json()["items"]}


async def test_a_read_only_window_is_the_provinces_bounded_and_announced_as_an_event(
    client: httpx.AsyncClient, settings: ActivitiesSettings, tree: Tree, admin: Admin, db: Db
) -> None:
    county = await client.post(
        "/announcements", json=notice(read_only=True), headers=admin(tree.county_a)
    )
    assert county.status_code == 403
    assert county.json()["code"] == "announcement.read_only_root_only"
    as_notice = await client.post(
        "/announcements", json=notice(kind="notice", read_only=True), headers=admin(tree.root)
    )
    assert as_notice.json()["code"] == "announcement.read_only_needs_maintenance"
    too_long = await client.post(
        "/announcements", json=notice(read_only=True, ends_at=at(30)), headers=admin(tree.root)
    )
    assert too_long.json()["code"] == "announcement.window_too_long"

    window = await client.post(
        "/announcements", json=notice(read_only=True), headers=admin(tree.root)
    )
    assert window.status_code == 201, window.text
    body = window.json()
    assert body["read_only"] is True
    [event] = await db(
        "SELECT envelope FROM outbox WHERE type = 'announcement.published' "
        "AND envelope->'data'->>'announcement_id' = :a",
        a=body["id"],
    )
    data = (event.envelope if isinstance(event.envelope, dict) else json.loads(event.envelope))[
        "data"
    ]
    assert data["read_only"] is True and data["org_id"] == str(tree.root)
    # Maintenance also goes by SMS to each organisation's leader, once the notices are written.
    await run_fan_out(settings, await fan_out_commands(db))
    texts = await db(
        "SELECT envelope->'data'->>'org_id' AS org, envelope->'data'->>'text' AS text "
        "FROM outbox WHERE type = 'activities.send_sms' AND envelope->'data'->>'org_id' = ANY(:o)",
        o=[str(o) for o in (tree.root, tree.city, tree.county_a, tree.branch_b)],
    )
    assert len(texts) == 4 and {t.org for t in texts} == {
        str(o) for o in (tree.root, tree.city, tree.county_a, tree.branch_b)
    }
    assert texts[0].text.startswith("【智慧团建】系统维护通知：系统升级")
    system = caller_headers(settings.platform.internal_secret, "system", None)
    windows = (await client.get("/internal/maintenance-windows", headers=system)).json()
    assert body["id"] in {w["id"] for w in windows["items"]}
    # Anyone, signed in or not, sees the province's maintenance ahead.
    public = (await client.get("/announcements/active")).json()
    assert body["id"] in {a["id"] for a in public["items"]}

    # Only an admin over it withdraws it, once; the gateway hears of it.
    url = f"/announcements/{body['id']}/withdraw"
    assert (await client.post(url, headers=admin(tree.county_a))).status_code == 403
    withdrawn = await client.post(url, headers=admin(tree.root))
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
    twice = await client.post(url, headers=admin(tree.root))
    assert twice.status_code == 409 and twice.json()["code"] == "announcement.not_current"
    windows = (await client.get("/internal/maintenance-windows", headers=system)).json()
    assert body["id"] not in {w["id"] for w in windows["items"]}
    [told] = await db(
        "SELECT count(*) AS n FROM outbox WHERE type = 'announcement.withdrawn' "
        "AND envelope->'data'->>'announcement_id' = :a",
        a=body["id"],
    )
    assert told.n == 1
