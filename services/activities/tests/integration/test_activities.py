"""Activities through their routes on a real database: published to an audience whose every
member (and no one else) is notified by the fan-out chunks, signed up for under a race for the
last places, taken back, summarised after the end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from activities.settings import ActivitiesSettings

from .conftest import Headers, Tree, fan_out_commands, new_members, run_fan_out

Admin = Callable[[uuid.UUID], Headers]
Member = Callable[[uuid.UUID, uuid.UUID], Headers]
Db = Callable[..., Awaitable[list[Any]]]


def soon(hours: float = 24) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def activity(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "五四青年节主题团日",
        "theme": "传承五四精神",
        "place": "市青少年宫",
        "starts_at": soon(48),
        "ends_at": soon(50),
        **overrides,
    }


async def notified(db: Db, activity_id: str) -> set[uuid.UUID]:
    rows = await db(
        "SELECT recipient_id FROM notifications WHERE link->>'activity_id' = :a", a=activity_id
    )
    return {r.recipient_id for r in rows}


async def test_every_member_of_the_audience_and_no_one_else_is_notified_once(
    client: httpx.AsyncClient, settings: ActivitiesSettings, tree: Tree, admin: Admin, db: Db
) -> None:
    in_a = await new_members(settings, tree.branch_a, 3)
    in_b = await new_members(settings, tree.branch_b, 2)
    published = await client.post(
        f"/orgs/{tree.county_a}/activities", json=activity(), headers=admin(tree.county_a)
    )
    assert published.status_code == 201, published.text
    body = published.json()
    # The answer comes before the notifications: their progress is on the activity.
    assert body["notifications"] == {
        "chunks_total": 1,
        "chunks_done": 0,
        "notified": 0,
        "finished_at": None,
    }
    assert body["audience_org_ids"] == [str(tree.county_a)]

    commands = await fan_out_commands(db)
    # Each command delivered twice (a consumer killed after its commit, before its ack).
    await run_fan_out(settings, commands + commands)
    assert await notified(db, body["id"]) == set(in_a)
    assert not set(in_b) & await notified(db, body["id"])
    [count] = await db(
        "SELECT count(*) AS n FROM notifications WHERE link->>'activity_id' = :a", a=body["id"]
    )
    assert count.n == 3
    progress = (await client.get(f"/activities/{body['id']}", headers=admin(tree.city))).json()[
        "notifications"
    ]
    assert (progress["chunks_done"], progress["notified"]) == (1, 3)
    assert progress["finished_at"] is not None

    # Chosen organisations under the publisher: only their members.
    chosen = await client.post(
        f"/orgs/{tree.city}/activities",
        json=activity(audience_org_ids=[str(tree.branch_b)]),
        headers=admin(tree.city),
    )
    assert chosen.status_code == 201, chosen.text
    await run_fan_out(settings, await fan_out_commands(db))
    assert await notified(db, chosen.json()["id"]) == set(in_b)


async def test_an_audience_outside_the_publisher_and_impossible_times_are_refused(
    client: httpx.AsyncClient, tree: Tree, admin: Admin, db: Db
) -> None:
    url = f"/orgs/{tree.county_a}/activities"
    outside = await client.post(
        url, json=activity(audience_org_ids=[str(tree.branch_b)]), headers=admin(tree.county_a)
    )
    assert outside.status_code == 422 and outside.json()["code"] == "activity.audience_outside"
    backwards = await client.post(
        url, json=activity(starts_at=soon(5), ends_at=soon(4)), headers=admin(tree.county_a)
    )
    assert backwards.json()["code"] == "activity.ends_before_start"
    over = await client.post(
        url, json=activity(starts_at=soon(-5), ends_at=soon(-4)), headers=admin(tree.county_a)
    )
    assert over.json()["code"] == "activity.already_over"
    late = await client.post(
        url, json=activity(signup_deadline=soon(49)), headers=admin(tree.county_a)
    )
    assert late.json()["code"] == "activity.deadline_after_start"
    naive = await client.post(
        url, json=activity(starts_at="2030-05-04T09:00:00"), headers=admin(tree.county_a)
    )
    assert naive.status_code == 422  # a time without its zone is ambiguous
    not_mine = await client.post(url, json=activity(), headers=admin(tree.county_b))
    assert not_mine.status_code == 403
    [n] = await db("SELECT count(*) AS n FROM activities WHERE org_id = :o", o=tree.county_a)
    assert n.n == 0


async def test_fifty_members_race_for_ten_places_and_exactly_ten_get_one(
    client: httpx.AsyncClient,
    settings: ActivitiesSettings,
    tree: Tree,
    admin: Admin,
    member: Member,
) -> None:
    members = await new_members(settings, tree.branch_a, 50)
    published = await client.post(
        f"/orgs/{tree.county_a}/activities",
        json=activity(capacity=10),
        headers=admin(tree.county_a),
    )
    activity_id = published.json()["id"]
    answers = await asyncio.gather(
        *(
            client.post(f"/activities/{activity_id}/signups", headers=member(m, tree.branch_a))
            for m in members
        )
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 10 + [409] * 40
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"activity.full"}
    read = (await client.get(f"/activities/{activity_id}", headers=admin(tree.county_a))).json()
    assert (read["signups"], read["places_left"]) == (10, 0)
    listed = await client.get(
        f"/activities/{activity_id}/signups", params={"limit": 4}, headers=admin(tree.county_a)
    )
    assert len(listed.json()["items"]) == 4 and listed.json()["next_cursor"]

    # One who got a place gives it back; one who did not takes it.
    winner = next(m for m, r in zip(members, answers, strict=True) if r.status_code == 201)
    loser = next(m for m, r in zip(members, answers, strict=True) if r.status_code == 409)
    url = f"/activities/{activity_id}/signups"
    assert (
        await client.delete(f"{url}/me", headers=member(winner, tree.branch_a))
    ).status_code == 204
    again = await client.delete(f"{url}/me", headers=member(winner, tree.branch_a))
    assert again.status_code == 404 and again.json()["code"] == "activity.not_signed_up"
    assert (await client.post(url, headers=member(loser, tree.branch_a))).status_code == 201
    twice = await client.post(url, headers=member(loser, tree.branch_a))
    assert twice.status_code == 409 and twice.json()["code"] == "activity.already_signed_up"

    # The organisation's list tells each member whether they hold a place (their phone page).
    def mine(listed: httpx.Response) -> bool:
        [found] = [a for a in listed.json()["items"] if a["id"] == activity_id]
        return bool(found["signed_up"])

    org_list = f"/orgs/{tree.county_a}/activities"
    assert mine(await client.get(org_list, headers=member(loser, tree.branch_a)))
    assert not mine(await client.get(org_list, headers=member(winner, tree.branch_a)))
    assert not mine(await client.get(org_list, headers=admin(tree.county_a)))


async def test_a_member_signing_up_and_taking_it_back_at_once_gets_answers_not_errors(
    client: httpx.AsyncClient,
    settings: ActivitiesSettings,
    tree: Tree,
    admin: Admin,
    member: Member,
    db: Db,
) -> None:
    # The same member on two phones (or a double tap): sign-up and take-back of one place meet.
    # They take the activity's row in the same order, so they wait for each other instead of
    # deadlocking (which PostgreSQL breaks by failing one of them: a 500).
    [someone] = await new_members(settings, tree.branch_a, 1)
    published = await client.post(
        f"/orgs/{tree.county_a}/activities", json=activity(capacity=5), headers=admin(tree.county_a)
    )
    url = f"/activities/{published.json()['id']}/signups"
    phone = member(someone, tree.branch_a)
    for _ in range(30):
        answers = await asyncio.gather(
            client.post(url, headers=phone),
            client.delete(f"{url}/me", headers=phone),
            client.post(url, headers=phone),
        )
        assert {r.status_code for r in answers} <= {201, 204, 404, 409}, [
            (r.status_code, r.text[:200]) for r in answers
        ]
    [held] = await db(
        "SELECT a.signups, (SELECT count(*) FROM activity_signups s WHERE s.activity_id = a.id) "
        "AS rows FROM activities a WHERE a.id = :a",
        a=published.json()["id"],
    )
    assert held.signups == held.rows <= 1  # the count is the sign-ups there are


async def test_who_may_sign_up_and_until_when(
    client: httpx.AsyncClient,
    settings: ActivitiesSettings,
    tree: Tree,
    admin: Admin,
    member: Member,
) -> None:
    [in_a] = await new_members(settings, tree.branch_a, 1)
    [in_b] = await new_members(settings, tree.branch_b, 1)
    published = await client.post(
        f"/orgs/{tree.county_a}/activities", json=activity(), headers=admin(tree.county_a)
    )
    url = f"/activities/{published.json()['id']}/signups"
    # Outside the audience: the activity is not one the member may see.
    outsider = await client.post(url, headers=member(in_b, tree.branch_b))
    assert outsider.status_code == 404
    # Admins do not sign up; members do.
    assert (await client.post(url, headers=admin(tree.county_a))).status_code == 403
    # Sign-up closed by its deadline.
    closed = await client.post(
        f"/orgs/{tree.county_a}/activities",
        json=activity(starts_at=soon(0.0005), ends_at=soon(2)),
        headers=admin(tree.county_a),
    )
    await asyncio.sleep(2)
    late = await client.post(
        f"/activities/{closed.json()['id']}/signups", headers=member(in_a, tree.branch_a)
    )
    assert late.status_code == 409 and late.json()["code"] == "activity.closed"
    # A member of the audience reads the county's activities; one outside it does not.
    mine = await client.get(
        f"/orgs/{tree.county_a}/activities", headers=member(in_a, tree.branch_a)
    )
    assert {a["id"] for a in mine.json()["items"]} == {
        published.json()["id"],
        closed.json()["id"],
    }
    theirs = await client.get(
        f"/orgs/{tree.county_a}/activities", headers=member(in_b, tree.branch_b)
    )
    assert theirs.status_code == 403


async def test_the_summary_is_written_after_the_end(
    client: httpx.AsyncClient, tree: Tree, admin: Admin
) -> None:
    published = await client.post(
        f"/orgs/{tree.county_a}/activities",
        json=activity(starts_at=soon(-1), ends_at=soon(0.0005)),
        headers=admin(tree.county_a),
    )
    assert published.status_code == 201, published.text
    url = f"/activities/{published.json()['id']}/summary"
    body = {"text": "共有30名团员参加，重温入团誓词。", "photo_document_ids": []}
    early = await client.put(url, json=body, headers=admin(tree.county_a))
    assert early.status_code == 409 and early.json()["code"] == "activity.not_over"
    await asyncio.sleep(2)
    assert (await client.put(url, json=body, headers=admin(tree.county_b))).status_code in (
        403,
        404,
    )
    written = await client.put(url, json=body, headers=admin(tree.county_a))
    assert written.status_code == 200, written.text
    assert written.json()["summary"]["text"] == body["text"]
