"""Recovery where no admin can help: every admin frozen or locked out, the root admin's password
lost. The operator's commands (`zhtj-identity unfreeze | reset-password`), run on a machine with
the database settings; the same use cases as the API, audited with the actor `operator`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity import service
from identity.db import Account
from identity.settings import IdentitySettings
from shared.caller import OPERATOR_CALLER
from shared.problems import Problem
from shared.process import resources_of

Result = dict[str, Any]


async def _account(session: AsyncSession, username: str) -> Account:
    account = await service.account_by_username(session, username, lock=True)
    if account is None:
        raise Problem(404, "account.not_found", f"No account has the username {username!r}.")
    return account


async def unfreeze(session: AsyncSession, username: str, reason: str | None = None) -> Result:
    """Unfreeze the account as an admin above it would (`account.unfrozen` goes out through the
    outbox, so the gateway lets it back in) and forget its failed log-ins."""
    account = await _account(session, username)
    was_frozen = account.frozen
    await service.unfreeze(session, OPERATOR_CALLER, account.id)
    unlocked = await service.clear_lockout(session, OPERATOR_CALLER, account)
    return {
        "username": account.username,
        "account_id": str(account.id),
        "unfrozen": was_frozen,
        "lockout_cleared": unlocked,
        "reason": reason,
    }


async def reset_password(
    session: AsyncSession, username: str, settings: IdentitySettings
) -> Result:
    """A reset code as `POST /accounts/{id}/one-time-code` issues it (`/auth/activate` takes it
    with a new password), the account's failed log-ins forgotten so that it works at once.
    `frozen` tells the operator that log-in still needs `unfreeze` as well."""
    account = await _account(session, username)
    unlocked = await service.clear_lockout(session, OPERATOR_CALLER, account)
    code, expires_at = await service.one_time_code(
        session,
        OPERATOR_CALLER,
        account.id,
        settings.one_time_code_ttl,
        settings.platform.internal_secret,
    )
    return {
        "username": account.username,
        "account_id": str(account.id),
        "code": code,
        "expires_at": expires_at.isoformat(),
        "lockout_cleared": unlocked,
        "frozen": account.frozen,
    }


async def run(
    settings: IdentitySettings, use_case: Callable[[AsyncSession], Awaitable[Result]]
) -> Result:
    """One use case in one transaction on the service's database."""
    async with (
        resources_of(settings) as resources,
        resources.sessions() as session,
        session.begin(),
    ):
        return await use_case(session)
