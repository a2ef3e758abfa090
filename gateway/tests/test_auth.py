"""Token checks: missing, bad, expired, frozen, and a password that must be changed first."""

from __future__ import annotations

import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.auth import PublicKeyFile, TokenVerifier
from shared.problems import Problem


async def test_missing_token_on_authenticated_route_is_401(running) -> None:
    response = await running.client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "auth.not_authenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_expired_token_is_401_invalid_token(running, keys) -> None:
    past = int(time.time()) - 3600
    response = await running.client.get("/api/v1/me", headers=keys.auth(iat=past, exp=past + 60))
    assert response.status_code == 401
    assert response.json()["code"] == "auth.invalid_token"


async def test_token_signed_by_another_key_is_401_invalid_token(running, keys) -> None:
    keys.private = Ed25519PrivateKey.generate()
    response = await running.client.get("/api/v1/me", headers=keys.auth())
    assert response.status_code == 401
    assert response.json()["code"] == "auth.invalid_token"


async def test_garbage_and_non_bearer_credentials_are_401_invalid_token(running) -> None:
    for value in ("Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "):
        response = await running.client.get("/api/v1/me", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.json()["code"] == "auth.invalid_token"


async def test_token_with_unknown_role_is_401(running, keys) -> None:
    response = await running.client.get("/api/v1/me", headers=keys.auth(role="system"))
    assert response.status_code == 401
    assert response.json()["code"] == "auth.invalid_token"


async def test_valid_token_is_forwarded(running, keys, world) -> None:
    response = await running.client.get("/api/v1/me", headers=keys.auth())
    assert response.status_code == 200
    assert response.json()["path"] == "/me"
    assert len(world.seen) == 1


async def test_frozen_account_is_403_even_on_any_status_route(running, keys, world) -> None:
    account = uuid.uuid4()
    running.gateway.frozen.freeze(account)
    response = await running.client.get("/api/v1/me", headers=keys.auth(sub=str(account)))
    assert response.status_code == 403
    assert response.json()["code"] == "auth.frozen"
    assert world.seen == []


async def test_password_change_required_blocks_ordinary_routes(running, keys, tree) -> None:
    response = await running.client.get(
        f"/api/v1/orgs/{tree.city.id}", headers=keys.admin_of(tree.city, pcr=True)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "auth.password_change_required"


async def test_password_change_required_passes_any_status_routes(running, keys) -> None:
    headers = keys.auth(pcr=True)
    assert (await running.client.get("/api/v1/me", headers=headers)).status_code == 200
    changed = await running.client.post("/api/v1/auth/password", headers=headers, json={})
    assert changed.status_code == 200


async def test_public_route_needs_no_token(running, world) -> None:
    response = await running.client.post("/api/v1/auth/login", json={"username": "a"})
    assert response.status_code == 200
    assert "x-league-caller" not in world.seen[0].headers


async def test_public_route_ignores_a_bad_token(running, world) -> None:
    response = await running.client.post(
        "/api/v1/auth/login", headers={"Authorization": "Bearer stale"}, json={}
    )
    assert response.status_code == 200


async def test_without_a_key_tokens_cannot_be_checked_and_the_answer_is_503(running, keys) -> None:
    keys.public_file.unlink()
    running.gateway.verifier = type(running.gateway.verifier)(PublicKeyFile(keys.public_file))
    response = await running.client.get("/api/v1/me", headers=keys.auth())
    assert response.status_code == 503
    assert response.json()["code"] == "gateway.auth_unavailable"


def test_key_file_that_appears_later_is_picked_up(keys, tmp_path) -> None:
    pem = keys.public_file.read_bytes()
    later = tmp_path / "later.pem"
    source = PublicKeyFile(later)
    assert source.get() is None
    later.write_bytes(pem)
    assert source.get() is not None


def rotate(keys) -> Ed25519PrivateKey:
    """A new key pair: its public half written over the key file (another size, so seen as
    changed at once), the private one returned."""
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keys.public_file.write_bytes(pem + b"\n")
    return private


def test_rotated_key_file_is_reread_within_a_second(keys) -> None:
    now = [0.0]
    source = PublicKeyFile(keys.public_file, clock=lambda: now[0])
    first = source.get()
    other = rotate(keys).public_key()
    assert source.get() is first  # the file is not looked at on every request
    now[0] += PublicKeyFile.RECHECK_SECONDS
    second = source.get()
    assert first is not None and second is not None
    assert second.public_bytes_raw() == other.public_bytes_raw()


def test_a_token_signed_with_a_key_rotated_a_moment_ago_verifies_at_once(keys) -> None:
    verifier = TokenVerifier(PublicKeyFile(keys.public_file, clock=lambda: 0.0))
    verifier.verify(keys.token())
    keys.private = rotate(keys)  # identity signs the next logins with the new key
    assert verifier.verify(keys.token()).account_id is not None


def test_unreadable_key_file_keeps_no_key(tmp_path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    assert PublicKeyFile(bad).get() is None


def test_a_remembered_token_still_expires(keys) -> None:
    now = [time.time()]
    verifier = TokenVerifier(PublicKeyFile(keys.public_file), clock=lambda: now[0])
    token = keys.token(exp=int(now[0]) + 60)
    assert verifier.verify(token) == verifier.verify(token)  # the second from memory
    now[0] += 60 + 11  # past expiry and the leeway
    with pytest.raises(Problem) as refused:
        verifier.verify(token)
    assert refused.value.code == "auth.invalid_token"


def test_a_rotated_key_rechecks_remembered_tokens(keys) -> None:
    now = [0.0]
    verifier = TokenVerifier(PublicKeyFile(keys.public_file, clock=lambda: now[0]))
    token = keys.token()
    verifier.verify(token)
    rotate(keys)
    now[0] += PublicKeyFile.RECHECK_SECONDS
    with pytest.raises(Problem) as refused:
        verifier.verify(token)
    assert refused.value.code == "auth.invalid_token"
