"""Log-in, lockout, password change, freezing, one-time codes and admin applications."""

from __future__ import annotations

import uuid

import httpx
import jwt

from identity.settings import IdentitySettings
from shared.testing import caller_headers

from .conftest import Tree

STRONG = "Strong-Pass-2026!"


def as_admin(
    settings: IdentitySettings, org_id: uuid.UUID, account_id: str | None = None
) -> dict[str, str]:
    return caller_headers(settings.platform.internal_secret, "admin", org_id, account_id)


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"username": username, "password": password})


async def test_login_gives_a_token_carrying_the_account_and_its_org(
    client: httpx.AsyncClient, tree: Tree, make_account
) -> None:
    username, account_id = await make_account(tree.county_a)
    r = await login(client, username, "Initial-Pass-2026")
    assert r.status_code == 200, r.text
    body = r.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["org"], claims["role"]) == (
        account_id,
        str(tree.county_a),
        "admin",
    )
    assert body["account"]["org_name"] == "甲县委" and body["token_type"] == "bearer"


async def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(
    client: httpx.AsyncClient, tree: Tree, make_account
) -> None:
    username, _ = await make_account(tree.county_a)
    statuses = [(await login(client, username, "wrong-password")).status_code for _ in range(5)]
    assert statuses == [401] * 5
    r = await login(client, username, "Initial-Pass-2026")
    assert r.status_code == 423 and r.json()["code"] == "auth.locked"
    assert int(r.headers["retry-after"]) > 0


async def test_an_unknown_user_and_a_wrong_password_look_the_same(
    client: httpx.AsyncClient, tree: Tree, make_account
) -> None:
    username, _ = await make_account(tree.county_a)
    unknown = await login(client, "nobody-here", "whatever")
    wrong = await login(client, username, "whatever")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["code"] == wrong.json()["code"] == "auth.invalid_credentials"


async def test_a_weak_new_password_is_refused_and_a_strong_one_clears_the_forced_change(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account, outbox_types
) -> None:
    username, account_id = await make_account(tree.city, must_change=True)
    assert (await login(client, username, "Initial-Pass-2026")).json()[
        "must_change_password"
    ] is True
    headers = as_admin(settings, tree.city, account_id)
    weak = await client.post(
        "/auth/password",
        headers=headers,
        json={"current_password": "Initial-Pass-2026", "new_password": "password1"},
    )
    assert weak.status_code == 422 and weak.json()["code"] == "auth.weak_password"
    ok = await client.post(
        "/auth/password",
        headers=headers,
        json={"current_password": "Initial-Pass-2026", "new_password": STRONG},
    )
    assert ok.status_code == 204
    assert (await outbox_types())[-1] == "account.password_changed"
    assert (await login(client, username, STRONG)).json()["must_change_password"] is False


async def test_a_frozen_account_cannot_log_in_and_cannot_unfreeze_itself(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account, outbox_types
) -> None:
    username, account_id = await make_account(tree.county_a)
    me = as_admin(settings, tree.county_a, account_id)
    assert (
        await client.post(f"/accounts/{account_id}/freeze", json={"reason": "疑似被盗"}, headers=me)
    ).status_code == 204
    assert (await outbox_types())[-1] == "account.frozen"
    r = await login(client, username, "Initial-Pass-2026")
    assert r.status_code == 403 and r.json()["code"] == "auth.frozen"
    assert (await client.post(f"/accounts/{account_id}/unfreeze", headers=me)).status_code == 403
    assert (
        await client.post(f"/accounts/{account_id}/unfreeze", headers=as_admin(settings, tree.city))
    ).status_code == 204
    assert (await login(client, username, "Initial-Pass-2026")).status_code == 200


async def test_an_admin_cannot_freeze_an_account_outside_its_subtree(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account
) -> None:
    _, account_id = await make_account(tree.county_b)
    r = await client.post(
        f"/accounts/{account_id}/freeze",
        json={"reason": "x"},
        headers=as_admin(settings, tree.county_a),
    )
    assert r.status_code == 404


async def test_a_one_time_code_resets_a_forgotten_password_once(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account
) -> None:
    username, account_id = await make_account(tree.county_a)
    r = await client.post(
        f"/accounts/{account_id}/one-time-code", headers=as_admin(settings, tree.city)
    )
    assert r.status_code == 201
    code = r.json()["code"]
    body = {"username": username, "activation_code": code, "new_password": STRONG}
    assert (await client.post("/auth/activate", json=body)).status_code == 204
    assert (await login(client, username, STRONG)).status_code == 200
    again = await client.post("/auth/activate", json=body | {"new_password": "Another-Pass-2026"})
    assert again.status_code == 422 and again.json()["code"] == "auth.invalid_code"


async def test_the_parent_records_and_approves_an_admin_application(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, outbox_types
) -> None:
    city_admin = as_admin(settings, tree.city)
    username = f"county{uuid.uuid4().hex[:6]}"
    r = await client.post(
        f"/orgs/{tree.county_a}/admin-applications",
        headers=city_admin,
        json={
            "responsible_name": "李四",
            "responsible_phone": "13700137000",
            "requested_username": username,
            "form_document_id": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 201 and r.json()["status"] == "pending"
    # The county cannot approve its own application: that is the parent's work.
    own = await client.post(
        f"/admin-applications/{r.json()['id']}/approve", headers=as_admin(settings, tree.county_a)
    )
    assert own.status_code == 404
    approved = await client.post(
        f"/admin-applications/{r.json()['id']}/approve", headers=city_admin
    )
    assert approved.status_code == 201
    assert (await outbox_types())[-1] == "account.created"
    first = await login(client, username, approved.json()["initial_password"])
    assert first.status_code == 200 and first.json()["must_change_password"] is True
    twice = await client.post(f"/admin-applications/{r.json()['id']}/approve", headers=city_admin)
    assert twice.status_code == 409


async def test_the_security_check_lists_admins_that_never_logged_in(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account
) -> None:
    username, _ = await make_account(tree.county_b)
    r = await client.get(
        f"/orgs/{tree.city}/security-check",
        params={"limit": 500},
        headers=as_admin(settings, tree.city),
    )
    assert r.status_code == 200
    found = {i["username"]: i["findings"] for i in r.json()["items"]}
    assert "never_logged_in" in found[username]
    assert (
        await client.get(
            f"/orgs/{tree.city}/security-check", headers=as_admin(settings, tree.county_a)
        )
    ).status_code == 403


async def test_a_new_code_retires_the_earlier_ones_and_using_one_retires_all(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account
) -> None:
    username, account_id = await make_account(tree.county_a)
    city = as_admin(settings, tree.city)
    first = (await client.post(f"/accounts/{account_id}/one-time-code", headers=city)).json()[
        "code"
    ]
    second = (await client.post(f"/accounts/{account_id}/one-time-code", headers=city)).json()[
        "code"
    ]
    stale = await client.post(
        "/auth/activate",
        json={"username": username, "activation_code": first, "new_password": "Stolen-Pass-2026"},
    )
    assert stale.status_code == 422
    assert (
        await client.post(
            "/auth/activate",
            json={"username": username, "activation_code": second, "new_password": STRONG},
        )
    ).status_code == 204


async def test_an_admin_cannot_issue_a_reset_code_for_itself(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account
) -> None:
    _, account_id = await make_account(tree.county_a)
    r = await client.post(
        f"/accounts/{account_id}/one-time-code",
        headers=as_admin(settings, tree.county_a, account_id),
    )
    assert r.status_code == 403 and r.json()["code"] == "account.cannot_reset_self"


async def test_a_nul_character_in_a_username_is_a_clear_422_not_a_crash(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/auth/login", json={"username": "ad\u0000min", "password": "x"})
    assert r.status_code == 422 and r.json()["code"] == "request.invalid_value"
