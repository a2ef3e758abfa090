"""GET /me carries the unread count of the caller's inbox, asked of activities for the caller;
without activities the account still answers, the count left out."""

from __future__ import annotations

import uuid

from shared.caller import CALLER_HEADER, SIGNATURE_HEADER, verify_caller


async def test_me_carries_the_unread_count_asked_as_the_caller(running, keys, world) -> None:
    world.unread = 3
    account = uuid.uuid4()
    me = await running.client.get("/api/v1/me", headers=keys.auth(sub=str(account)))
    assert me.status_code == 200
    assert me.json() == {"path": "/me", "query": "", "unread_notifications": 3}
    [asked] = world.unread_asked
    secret = running.gateway.settings.platform.internal_secret
    caller = verify_caller(asked.headers[CALLER_HEADER], asked.headers[SIGNATURE_HEADER], secret)
    assert caller.account_id == account


async def test_me_answers_without_the_count_when_activities_is_down(running, keys, world) -> None:
    world.down.add("activities")
    me = await running.client.get("/api/v1/me", headers=keys.auth(sub=str(uuid.uuid4())))
    assert me.status_code == 200 and me.json()["unread_notifications"] is None
