"""Activities end to end through the gateway: a county publishes, every member of the county and
no one else is notified; members race for the last places; the summary takes photos that are
images and refuses a PDF named like one; a transfer's step reaches the member's inbox."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from .conftest import PDF, Api, Running, Tree, eventually, login
from .test_transfers import PASSWORD, activate, import_members, request_transfer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
IN_COPY = "SELECT count(*) AS n FROM activity_members WHERE branch_id = ANY($1::uuid[])"
NOTIFIED = (
    "SELECT recipient_id::text AS member FROM notifications "
    "WHERE link->>'activity_id' = $1 AND recipient_kind = 'member'"
)


def at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def publish(admin: Api, org: str, **fields: Any) -> httpx.Response:
    body = {
        "title": "学习贯彻团章专题团课",
        "theme": "学团章 知团史",
        "place": "县青少年活动中心",
        "starts_at": at(24),
        "ends_at": at(26),
        **fields,
    }
    # The activities service learns of a new organisation by its event.
    return eventually(
        lambda: (r := admin.post(f"/orgs/{org}/activities", json=body)).status_code != 404 and r,
        within=30,
        interval=0.3,
    )


def member_api(running: Running, record: dict[str, Any]) -> Api:
    r = login(running.system.gateway_url, record["member_no"], PASSWORD)
    assert r.status_code == 200, r.text
    return Api(running.system.gateway_url, r.json()["access_token"])


class Place:
    """A city of its own under the root, with two counties: the shared tree's counts and
    children stay as the other modules expect them."""

    def __init__(self, root_admin: Api, tree: Tree) -> None:
        tag = uuid.uuid4().hex[:4]
        self.city = root_admin.create_org(tree.root, f"活动市委{tag}").json()["id"]
        self.county = root_admin.create_org(self.city, f"丙县委{tag}").json()["id"]
        self.other_county = root_admin.create_org(self.city, f"丁县委{tag}").json()["id"]
        self.x1, self.x2, self.elsewhere = (
            root_admin.create_org(parent, name + tag, "branch").json()["id"]
            for parent, name in (
                (self.county, "丙县一支部"),
                (self.county, "丙县二支部"),
                (self.other_county, "丁县一支部"),
            )
        )


@pytest.fixture(scope="module")
def place(root_admin: Api, tree: Tree) -> Place:
    return Place(root_admin, tree)


def test_a_county_publishes_and_its_members_alone_are_notified_and_race_for_places(
    running: Running, root_admin: Api, place: Place
) -> None:
    county, x1, x2, elsewhere = place.county, place.x1, place.x2, place.elsewhere
    first = import_members(root_admin, x1, 3, seed=901)
    second = import_members(root_admin, x2, 2, seed=902)
    outside = import_members(root_admin, elsewhere, 2, seed=903)
    branches = [uuid.UUID(b) for b in (x1, x2, elsewhere)]
    eventually(lambda: running.db("activities", IN_COPY, branches)[0]["n"] == 7, within=30)

    published = publish(root_admin, county, capacity=2)
    assert published.status_code == 201, published.text
    activity = published.json()["id"]
    done = eventually(
        lambda: (
            (a := root_admin.get(f"/activities/{activity}").json())["notifications"]["finished_at"]
            and a
        ),
        within=30,
        interval=0.3,
    )
    assert done["notifications"]["notified"] == 5
    told = {r["member"] for r in running.db("activities", NOTIFIED, activity)}
    assert told == {m["id"] for m in first + second}
    assert not told & {m["id"] for m in outside}

    # Three members of the county see it in their inbox and race for the two places.
    for record in first:
        activate(running, root_admin, x1, record)
    members = [member_api(running, record) for record in first]
    inbox = members[0].get("/me/notifications").json()
    [notice] = [n for n in inbox["items"] if n["link"].get("activity_id") == activity]
    assert notice["title"] == "新活动：学习贯彻团章专题团课" and notice["read_at"] is None
    unread = inbox["unread"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda m: m.post(f"/activities/{activity}/signups"), members))
    assert sorted(r.status_code for r in answers) == [201, 201, 409], [r.text for r in answers]
    assert [r.json()["code"] for r in answers if r.status_code == 409] == ["activity.full"]
    assert root_admin.get(f"/activities/{activity}").json()["places_left"] == 0
    signed = root_admin.get(f"/activities/{activity}/signups").json()["items"]
    assert len(signed) == 2
    # Reading the notice takes it off the unread count.
    assert members[0].post(f"/notifications/{notice['id']}/read").status_code == 204
    assert members[0].get("/me/notifications/unread-count").json() == {"unread": unread - 1}
    assert members[0].get("/me").json()["unread_notifications"] == unread - 1


def test_a_summary_takes_uploaded_images_and_refuses_a_pdf_named_like_one(
    root_admin: Api, place: Place
) -> None:
    ending = publish(root_admin, place.county, starts_at=at(-1), ends_at=at(2 / 3600))
    assert ending.status_code == 201, ending.text
    url = f"/activities/{ending.json()['id']}/summary"
    photo = root_admin.post("/documents", files={"file": ("合影.png", PNG, "image/png")})
    renamed = root_admin.post("/documents", files={"file": ("合影.jpg", PDF, "image/jpeg")})
    assert photo.status_code == renamed.status_code == 201
    assert renamed.json()["content_type"] == "application/pdf"
    body = {"text": "全县32名团员参加，重温入团誓词。", "photo_document_ids": [photo.json()["id"]]}

    early = root_admin.put(url, json=body)
    assert early.status_code == 409 and early.json()["code"] == "activity.not_over"
    time.sleep(2.5)
    refused = root_admin.put(url, json={**body, "photo_document_ids": [renamed.json()["id"]]})
    assert refused.status_code == 422 and refused.json()["code"] == "activity.photo_not_image"
    unknown = root_admin.put(url, json={**body, "photo_document_ids": [str(uuid.uuid4())]})
    assert unknown.status_code == 422 and unknown.json()["code"] == "activity.photo_not_found"
    written = root_admin.put(url, json=body)
    assert written.status_code == 200, written.text
    assert written.json()["summary"]["photo_document_ids"] == [photo.json()["id"]]


def test_a_transfer_request_reaches_the_members_inbox(
    running: Running, root_admin: Api, place: Place
) -> None:
    [mover] = import_members(root_admin, place.x2, 1, seed=904)
    activate(running, root_admin, place.x2, mover)
    me = member_api(running, mover)
    asked = request_transfer(me, mover["id"], place.elsewhere)
    assert asked.status_code == 201, asked.text

    def transfer_notices() -> list[dict[str, Any]]:
        items = me.get("/me/notifications").json()["items"]
        return [n for n in items if n["link"].get("transfer_id") == asked.json()["id"]]

    [notice] = eventually(transfer_notices, within=30, interval=0.3)
    assert (notice["kind"], notice["title"]) == ("transfer.requested", "组织关系转接申请已提交")
    # And by SMS, to the number in the member's record (the stand-in provider records it).
    [row] = running.db("members", "SELECT phone FROM members WHERE id = $1", uuid.UUID(mover["id"]))
    sent = running.system.layout.root / "sms-sent.jsonl"

    def texted() -> list[dict[str, str]]:
        lines = sent.read_text(encoding="utf-8").splitlines() if sent.exists() else []
        return [m for m in map(json.loads, lines) if m["phone"] == row["phone"]]

    [sms] = eventually(texted, within=30, interval=0.3)
    assert sms["text"].startswith("【智慧团建】组织关系转接申请已提交")


def test_a_read_only_window_stops_member_edits_with_503_and_lifts_on_time(
    root_admin: Api, place: Place
) -> None:
    [record] = import_members(root_admin, place.x1, 1, seed=905)
    edit = {"employer": "县供电公司"}
    assert root_admin.patch(f"/members/{record['id']}", json=edit).status_code == 200
    ends = datetime.now(UTC) + timedelta(seconds=8)
    window = root_admin.post(
        "/announcements",
        json={
            "title": "数据库升级",
            "body": "升级期间仅可查看。",
            "kind": "maintenance",
            "starts_at": datetime.now(UTC).isoformat(),
            "ends_at": ends.isoformat(),
            "read_only": True,
        },
    )
    assert window.status_code == 201, window.text
    # The gateway hears of it from the event; writes are refused, reads go on.
    refused = eventually(
        lambda: (
            (r := root_admin.patch(f"/members/{record['id']}", json=edit)).status_code == 503 and r
        ),
        within=6,
        interval=0.2,
    )
    assert refused.json()["code"] == "system.maintenance"
    assert 1 <= int(refused.headers["Retry-After"]) <= 8
    assert root_admin.get(f"/members/{record['id']}").status_code == 200
    assert root_admin.get("/announcements/active").json()["items"][0]["id"] == window.json()["id"]
    # At its end, by the gateway's own clock, writes work again.
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.2)
    assert root_admin.patch(f"/members/{record['id']}", json=edit).status_code == 200
