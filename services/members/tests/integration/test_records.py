"""Member records on a real database: validation, duplicates across the province, encryption at
rest, masking, audited reveals, key rotation, scope."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from members.fakes import person
from members.keys import rotate
from members.protection import id_protection
from members.settings import MembersSettings
from shared.crypto import Sealer, derive_key
from shared.process import build_resources

from .conftest import Tree

rng = random.Random(20261126)


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], branch: uuid.UUID, **over: Any
) -> httpx.Response:
    return await client.post(f"/orgs/{branch}/members", json=person(rng) | over, headers=headers)


async def test_a_new_member_is_shown_with_a_masked_id_number(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    data = person(rng)
    r = await client.post(f"/orgs/{tree.branch_a}/members", json=data, headers=admin(tree.branch_a))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id_number"] == data["id_number"][:3] + "*" * 11 + data["id_number"][-4:]
    assert len(body["member_no"]) == 12 and body["status"] == "active"
    assert (body["gender"], body["ethnicity"]) == (
        "male" if data["gender"] == "男" else "female",
        data["ethnicity"],
    )


async def test_the_raw_column_never_holds_the_id_number(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, db
) -> None:
    data = person(rng)
    member = (
        await client.post(f"/orgs/{tree.branch_a}/members", json=data, headers=admin(tree.branch_a))
    ).json()
    [row] = await db(
        "SELECT id_number_sealed, id_number_hash, id_number_masked FROM members WHERE id = :id",
        id=uuid.UUID(member["id"]),
    )
    assert (
        data["id_number"] not in row.id_number_sealed
        and data["id_number"][6:14] not in row.id_number_sealed
    )
    assert row.id_number_hash != hashlib.sha256(data["id_number"].encode()).hexdigest()
    assert row.id_number_masked == member["id_number"]


async def test_an_admin_reveal_shows_the_number_and_is_audited(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, db
) -> None:
    data = person(rng)
    member = (
        await client.post(f"/orgs/{tree.branch_a}/members", json=data, headers=admin(tree.branch_a))
    ).json()
    r = await client.get(
        f"/members/{member['id']}", params={"reveal": "id_number"}, headers=admin(tree.county_a)
    )
    assert r.status_code == 200 and r.json()["id_number"] == data["id_number"]
    audits = await db("SELECT action FROM audit_log WHERE target_id = :id", id=member["id"])
    assert "member.reveal_id_number" in [a.action for a in audits]


async def test_an_id_number_that_disagrees_with_birth_date_or_gender_is_refused_naming_the_field(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    data = person(rng)
    wrong_gender = "女" if data["gender"] == "男" else "男"
    r = await client.post(
        f"/orgs/{tree.branch_a}/members",
        json=data | {"gender": wrong_gender},
        headers=admin(tree.branch_a),
    )
    assert r.status_code == 422 and r.json()["code"] == "member.id_number_mismatch"
    assert [e["field"] for e in r.json()["errors"]] == ["gender"]
    bad = data["id_number"][:-1] + ("0" if data["id_number"][-1] != "0" else "1")
    r = await client.post(
        f"/orgs/{tree.branch_a}/members",
        json=data | {"id_number": bad},
        headers=admin(tree.branch_a),
    )
    assert r.status_code == 422 and r.json()["code"] == "member.id_number_invalid"


async def test_one_person_is_registered_once_in_the_whole_province(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    data = person(rng)
    assert (
        await client.post(f"/orgs/{tree.branch_a}/members", json=data, headers=admin(tree.branch_a))
    ).status_code == 201
    elsewhere = await client.post(
        f"/orgs/{tree.branch_b}/members", json=data, headers=admin(tree.county_b)
    )
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "member.duplicate"
    assert elsewhere.json()["in_scope"] is False and elsewhere.json()["remedy"] == "transfer"
    from_city = await client.post(
        f"/orgs/{tree.branch_b}/members", json=data, headers=admin(tree.city)
    )
    assert from_city.json()["in_scope"] is True


async def test_members_belong_to_branches_only(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    r = await create(client, admin(tree.county_a), tree.county_a)
    assert r.status_code == 422 and r.json()["code"] == "member.not_a_branch"


async def test_a_member_reads_only_the_own_record(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, member_caller: Callable
) -> None:
    me = (await create(client, admin(tree.branch_a), tree.branch_a)).json()
    other = (await create(client, admin(tree.branch_a), tree.branch_a)).json()
    assert (await client.get(f"/members/{me['id']}", headers=member_caller(me))).status_code == 200
    assert (
        await client.get(f"/members/{other['id']}", headers=member_caller(me))
    ).status_code == 404
    denied = await client.get(
        f"/members/{me['id']}", params={"reveal": "id_number"}, headers=member_caller(me)
    )
    assert denied.status_code == 403
    assert (
        await client.get(f"/members/{me['id']}", headers=admin(tree.county_b))
    ).status_code == 404


async def test_listing_a_subtree_pages_through_every_member_once(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    for _ in range(7):
        await create(client, admin(tree.branch_b), tree.branch_b)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"recursive": "true", "limit": 3} | (
            {"cursor": cursor} if cursor else {}
        )
        page = (
            await client.get(
                f"/orgs/{tree.county_b}/members", params=params, headers=admin(tree.county_b)
            )
        ).json()
        seen += [m["id"] for m in page["items"]]
        assert all("*" in m["id_number"] for m in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 7
    outside = await client.get(
        f"/orgs/{tree.county_a}/members", params={"recursive": "true"}, headers=admin(tree.county_b)
    )
    assert outside.status_code == 403


async def test_rotating_the_key_re_encrypts_every_record_and_both_keys_still_open(
    client: httpx.AsyncClient,
    settings: MembersSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    db,
) -> None:
    data = person(rng)
    member = (
        await client.post(f"/orgs/{tree.branch_a}/members", json=data, headers=admin(tree.branch_a))
    ).json()
    # A pending change of the ID number holds the new number sealed too.
    corrected = person(rng) | {"birth_date": data["birth_date"], "gender": data["gender"]}
    fixed_id = corrected["id_number"][:6] + data["id_number"][6:17]
    from members.domain.id_numbers import check_character

    fixed_id += check_character(fixed_id)
    request = await client.post(
        f"/members/{member['id']}/change-requests",
        json={"changes": {"id_number": fixed_id}, "reason": "录入错误"},
        headers=member_caller(member),
    )
    assert request.status_code == 201, request.text
    old_key = derive_key(settings.platform.internal_secret, "members/id-numbers")
    rotated = settings.model_copy(
        update={
            "id_keys": {
                "d1": base64.urlsafe_b64encode(old_key).decode(),
                "k2": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            },
            "id_active_key": "k2",
        }
    )
    protection = id_protection(rotated)
    resources = build_resources(rotated)
    try:
        assert await rotate(resources, protection) >= 1
        assert await rotate(resources, protection) == 0  # nothing left under the old key
    finally:
        await resources.engine.dispose()
    rows = await db("SELECT id, id_number_sealed FROM members")
    assert {Sealer.key_id_of(r.id_number_sealed) for r in rows} == {"k2"}
    [mine] = [r for r in rows if str(r.id) == member["id"]]
    assert protection.open(mine.id_number_sealed, mine.id.bytes) == data["id_number"]
    [pending] = await db(
        "SELECT changes FROM reviews WHERE id = :id", id=uuid.UUID(request.json()["id"])
    )
    assert Sealer.key_id_of(pending.changes["id_number"]["sealed"]) == "k2"
    # The hash key does not rotate: the duplicate rule still holds after rotation.
    again = await client.post(f"/orgs/{tree.branch_b}/members", json=data, headers=admin(tree.city))
    assert again.status_code == 409
    # A service still configured with the old key alone says so instead of failing blindly.
    stale = await client.get(
        f"/members/{member['id']}", params={"reveal": "id_number"}, headers=admin(tree.branch_a)
    )
    assert stale.status_code == 503 and stale.json()["code"] == "member.key_unavailable"


async def test_a_cursor_that_was_tampered_with_is_a_422(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    import base64 as b64

    for cursor in (
        "not-base64!",
        b64.urlsafe_b64encode(b'{"p": 1}').decode(),
        b64.urlsafe_b64encode(b"[]").decode(),
    ):
        r = await client.get(
            f"/orgs/{tree.county_a}/members",
            params={"recursive": "true", "cursor": cursor},
            headers=admin(tree.county_a),
        )
        assert r.status_code == 422 and r.json()["code"] == "request.bad_cursor", cursor
