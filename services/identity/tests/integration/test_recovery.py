"""The operator's recovery commands, `zhtj-identity unfreeze` and `reset-password`, run as the
command line runs them, against the test database: a root admin that froze itself or is locked
out comes back without an admin above it."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from identity.main import COMMANDS, make_spec
from identity.settings import IdentitySettings
from shared.cli import run_cli
from shared.process import Resources

from .conftest import Tree
from .test_accounts import STRONG, as_admin, login

PASSWORD = "Initial-Pass-2026"


async def command(settings: IdentitySettings, *argv: str) -> int:
    """`zhtj-identity <argv>` in-process (its own event loop, as from a shell)."""
    return await asyncio.to_thread(run_cli, lambda: make_spec(settings), argv, COMMANDS)


def printed(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return dict(json.loads(out[0]))


async def audited(resources: Resources, account_id: str) -> list[tuple[str, str, str | None]]:
    async with resources.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT action, actor_role, actor_account_id FROM audit_log "
                "WHERE target_type = 'account' AND target_id = :id ORDER BY id"
            ),
            {"id": account_id},
        )
        return [(r.action, r.actor_role, r.actor_account_id) for r in rows]


async def lock_out(client: httpx.AsyncClient, username: str) -> None:
    for _ in range(5):
        await login(client, username, "wrong-password")
    assert (await login(client, username, PASSWORD)).status_code == 423


async def test_a_root_admin_that_froze_itself_and_got_locked_out_is_unfrozen_by_the_operator(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    resources: Resources,
    tree: Tree,
    make_account,
    outbox_types,
    capsys: pytest.CaptureFixture[str],
) -> None:
    username, account_id = await make_account(tree.root, PASSWORD)
    me = as_admin(settings, tree.root, account_id)
    frozen = await client.post(
        f"/accounts/{account_id}/freeze", json={"reason": "手机丢失"}, headers=me
    )
    assert frozen.status_code == 204
    assert (await client.post(f"/accounts/{account_id}/unfreeze", headers=me)).status_code == 403
    await lock_out(client, username)

    assert await command(settings, "unfreeze", "--username", username, "--reason", "本人到场") == 0

    result = printed(capsys)
    assert result == {
        "username": username,
        "account_id": account_id,
        "unfrozen": True,
        "lockout_cleared": True,
        "reason": "本人到场",
    }
    assert (await login(client, username, PASSWORD)).status_code == 200
    assert (await outbox_types())[-1] == "account.unfrozen"
    assert (await audited(resources, account_id))[-2:] == [
        ("account.unfreeze", "operator", None),
        ("account.unlock", "operator", None),
    ]


async def test_a_locked_out_admin_gets_a_reset_code_from_the_operator_and_sets_a_new_password(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    resources: Resources,
    tree: Tree,
    make_account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    username, account_id = await make_account(tree.root, PASSWORD)
    await lock_out(client, username)

    assert await command(settings, "reset-password", "--username", username.upper()) == 0

    result = printed(capsys)
    assert (
        result["username"],
        result["account_id"],
        result["lockout_cleared"],
        result["frozen"],
    ) == (username, account_id, True, False)
    # Valid as long as a code an admin issues through the API (two days by default).
    assert {"code", "expires_at"} <= result.keys()
    activated = await client.post(
        "/auth/activate",
        json={"username": username, "activation_code": result["code"], "new_password": STRONG},
    )
    assert activated.status_code == 204, activated.text
    assert (await login(client, username, STRONG)).status_code == 200
    assert (await audited(resources, account_id))[-2:] == [
        ("account.unlock", "operator", None),
        ("account.one_time_code", "operator", None),
    ]


async def test_a_root_admin_that_froze_itself_and_lost_its_password_needs_both_commands(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    tree: Tree,
    make_account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    username, account_id = await make_account(tree.root, PASSWORD)
    me = as_admin(settings, tree.root, account_id)
    frozen = await client.post(f"/accounts/{account_id}/freeze", json={"reason": "x"}, headers=me)
    assert frozen.status_code == 204

    assert await command(settings, "reset-password", "--username", username) == 0
    result = printed(capsys)
    # The code works, but log-in stays refused until the account is unfrozen: the answer says so.
    assert result["frozen"] is True
    activated = await client.post(
        "/auth/activate",
        json={"username": username, "activation_code": result["code"], "new_password": STRONG},
    )
    assert activated.status_code == 204, activated.text
    refused = await login(client, username, STRONG)
    assert refused.status_code == 403 and refused.json()["code"] == "auth.frozen"

    assert await command(settings, "unfreeze", "--username", username) == 0
    assert printed(capsys)["unfrozen"] is True
    assert (await login(client, username, STRONG)).status_code == 200


async def test_the_reset_code_lasts_as_long_as_one_an_admin_issues(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    tree: Tree,
    make_account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, account_id = await make_account(tree.county_a, PASSWORD)
    by_admin = await client.post(
        f"/accounts/{account_id}/one-time-code", headers=as_admin(settings, tree.city)
    )
    username, _ = await make_account(tree.county_a, PASSWORD)
    assert await command(settings, "reset-password", "--username", username) == 0
    gap = datetime.fromisoformat(printed(capsys)["expires_at"]) - datetime.fromisoformat(
        by_admin.json()["expires_at"]
    )
    assert abs(gap.total_seconds()) < 60


async def test_an_unknown_username_is_a_clear_message_and_exit_code_1(
    settings: IdentitySettings, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (("unfreeze", "--username", "nobody-here"), ("reset-password", "--username", "x")):
        assert await command(settings, *argv) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert (
            err.startswith("zhtj-identity: No account has the username") and "Traceback" not in err
        )


async def test_an_account_neither_frozen_nor_locked_is_left_as_it_is(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    resources: Resources,
    tree: Tree,
    make_account,
    capsys: pytest.CaptureFixture[str],
) -> None:
    username, account_id = await make_account(tree.county_b, PASSWORD)
    assert await command(settings, "unfreeze", "--username", username) == 0
    assert printed(capsys)["unfrozen"] is False and not await audited(resources, account_id)
    assert (await login(client, username, PASSWORD)).status_code == 200
