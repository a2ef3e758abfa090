"""Use cases of the identity service: one transaction each, state change and outbox rows together."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, insert, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import Account, AdminApplication, LoginFailure, OneTimeCode
from identity.domain.codes import code_digest, generate_code
from identity.domain.lockout import MAX_FAILURES, WINDOW, locked_until
from identity.domain.passwords import generate_password, password_weaknesses
from identity.passwords import hash_password, verify_password
from shared.assessment import CHILD, IN_SUBTREE, subtree_params
from shared.audit import audit
from shared.calendar import beijing_today
from shared.caller import Caller
from shared.crypto import Sealer, derive_key
from shared.db import conflict_on_duplicate
from shared.events import (
    AccountCreated,
    AccountFrozen,
    AccountPasswordChanged,
    AccountUnfrozen,
    MemberCreated,
)
from shared.orgtree import OrgNode, is_admin_over, known_replica_node, replica_node
from shared.outbox import record_event, record_events
from shared.problems import Problem

PRODUCER = "identity"
USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")


def _now() -> datetime:
    return datetime.now(UTC)


def invalid_credentials() -> Problem:
    return Problem(401, "auth.invalid_credentials", "Wrong username or password.")


def account_not_found() -> Problem:
    # Also for accounts outside the caller's scope: their existence is not revealed.
    return Problem(404, "account.not_found", "No such account.")


async def account_by_username(
    session: AsyncSession, username: str, *, lock: bool = False
) -> Account | None:
    stmt = select(Account).where(Account.username == username.strip().lower())
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def _recent_failures(
    session: AsyncSession, account_id: uuid.UUID, now: datetime
) -> list[datetime]:
    rows = await session.execute(
        select(LoginFailure.failed_at).where(
            LoginFailure.account_id == account_id, LoginFailure.failed_at > now - WINDOW
        )
    )
    return list(rows.scalars())


def _locked_problem(until: datetime, now: datetime) -> Problem:
    seconds = max(1, int((until - now).total_seconds()))
    return Problem(
        423,
        "auth.locked",
        f"Too many failed attempts: the account is locked for {seconds // 60 + 1} minutes.",
        headers={"Retry-After": str(seconds)},
        locked_until=until.isoformat(),
    )


async def _check_not_locked(session: AsyncSession, account: Account, now: datetime) -> None:
    until = locked_until(await _recent_failures(session, account.id, now), now)
    if until is not None:
        raise _locked_problem(until, now)


async def _record_failure(session: AsyncSession, account: Account, now: datetime) -> int:
    session.add(LoginFailure(account_id=account.id, failed_at=now))
    await session.flush()
    return len(await _recent_failures(session, account.id, now))


async def login(session: AsyncSession, username: str, password: str) -> Account:
    """Check the credentials. A failure is recorded and then raised: the caller must commit even
    when this raises (see api.login), or the lockout would never count."""
    now = _now()
    account = await account_by_username(session, username, lock=True)
    if account is None:
        await verify_password(None, password)
        raise invalid_credentials()
    await _check_not_locked(session, account, now)
    if not await verify_password(account.password_hash, password):
        failures = await _record_failure(session, account, now)
        left = MAX_FAILURES - failures
        raise Problem(
            401,
            "auth.invalid_credentials",
            "Wrong username or password."
            + (
                f" {left} attempts left before the account is locked."
                if left > 0
                else " The account is now locked for 15 minutes."
            ),
        )
    if account.status == "disabled":
        raise Problem(
            403,
            "auth.disabled",
            "This account is closed: its member left the league, or its organisation was dissolved.",
        )
    if account.frozen:
        raise Problem(403, "auth.frozen", "This account is frozen; ask your organisation's admin.")
    if account.status == "pending_activation":
        raise Problem(
            403, "auth.not_activated", "Activate the account with its activation code first."
        )
    await _forget_failures(session, account.id)
    account.last_login_at = now
    # The month is what the assessment counts (used in the year); once a month per account.
    await session.execute(
        text(
            "INSERT INTO account_activity (account_id, month) VALUES (:id, "
            "date_trunc('month', CAST(:now AS timestamptz) AT TIME ZONE 'Asia/Shanghai')::date) "
            "ON CONFLICT DO NOTHING"
        ),
        {"id": account.id, "now": now},
    )
    return account


# Used in the year (up to a month) per the accounts' branch: the live figure's and the
# snapshot's common part.
USED_IN = (
    "count(*) FILTER (WHERE a.status = 'active' AND EXISTS (SELECT 1 FROM account_activity u "
    "WHERE u.account_id = a.id AND u.month BETWEEN :first_day AND :last_day))"
)


async def system_usage(session: AsyncSession, org: OrgNode, year: int) -> Sequence[Any]:
    """Member accounts of the subtree (not closed) per direct child, and those activated and
    used in the year (系统使用率), in one grouped statement. A past year with a month-end
    snapshot counts its last one: members where they were then, whatever moved since."""
    params = subtree_params(org.path, year)
    last = await session.scalar(
        text("SELECT max(month) FROM usage_snapshots WHERE month BETWEEN :first_day AND :last_day"),
        params,
    )
    if last is not None and year < beijing_today().year:
        return list(
            await session.execute(
                text(
                    f"SELECT {CHILD} AS child, sum(s.used) AS used, sum(s.members) AS members "  # noqa: S608
                    "FROM usage_snapshots s JOIN org_replica b ON b.id = s.branch_id "
                    f"WHERE s.month = :month AND {IN_SUBTREE} GROUP BY 1"
                ),
                {**params, "month": last},
            )
        )
    return list(
        await session.execute(
            text(
                f"SELECT {CHILD} AS child, {USED_IN} AS used, count(*) AS members "  # noqa: S608
                "FROM accounts a JOIN org_replica b ON b.id = a.org_id "
                f"WHERE a.role = 'member' AND a.status <> 'disabled' AND {IN_SUBTREE} GROUP BY 1"
            ),
            params,
        )
    )


async def snapshot_usage(session: AsyncSession, month: date) -> int:
    """Every branch's member accounts now and those used in `month`'s year up to it, kept as
    `month`'s snapshot (taken again, it is replaced). One statement; run at the month's end."""
    result = await session.execute(
        text(
            "INSERT INTO usage_snapshots (month, branch_id, used, members) "  # noqa: S608
            f"SELECT :month, a.org_id, {USED_IN}, count(*) FROM accounts a "
            "WHERE a.role = 'member' AND a.status <> 'disabled' GROUP BY a.org_id "
            "ON CONFLICT (month, branch_id) DO UPDATE SET used = EXCLUDED.used, "
            "members = EXCLUDED.members, taken_at = now()"
        ),
        {"month": month, "first_day": date(month.year, 1, 1), "last_day": month},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _forget_failures(session: AsyncSession, account_id: uuid.UUID) -> int:
    result = await session.execute(
        delete(LoginFailure).where(LoginFailure.account_id == account_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def clear_lockout(session: AsyncSession, caller: Caller, account: Account) -> bool:
    """Forget the account's failed log-ins, so it may log in (or activate a code) at once.
    Whether there were any to forget; only then is it audited."""
    if not await _forget_failures(session, account.id):
        return False
    await audit(session, caller, "account.unlock", "account", account.id)
    return True


def _check_strength(new_password: str, username: str) -> None:
    weaknesses = password_weaknesses(new_password, username)
    if weaknesses:
        raise Problem(
            422,
            "auth.weak_password",
            "The new password is too weak: " + "; ".join(weaknesses) + ".",
            errors=[{"field": "new_password", "message": w} for w in weaknesses],
        )


async def _set_password(session: AsyncSession, account: Account, new_password: str) -> None:
    _check_strength(new_password, account.username)
    now = _now()
    account.password_hash = await hash_password(new_password)
    account.must_change_password = False
    account.password_changed_at = now
    await record_event(
        session, AccountPasswordChanged(account_id=account.id, changed_at=now), PRODUCER
    )


async def _caller_account(session: AsyncSession, caller: Caller) -> Account:
    if caller.account_id is None:
        raise account_not_found()
    account = await session.get(Account, caller.account_id, with_for_update=True)
    if account is None:
        raise account_not_found()
    return account


async def change_password(session: AsyncSession, caller: Caller, current: str, new: str) -> None:
    account = await _caller_account(session, caller)
    if not await verify_password(account.password_hash, current):
        raise Problem(
            422,
            "auth.wrong_current_password",
            "The current password is not right.",
            errors=[{"field": "current_password", "message": "not right"}],
        )
    if current == new:
        raise Problem(
            422,
            "auth.weak_password",
            "The new password must differ from the current one.",
            errors=[{"field": "new_password", "message": "same as the current password"}],
        )
    await _set_password(session, account, new)


async def activate(
    session: AsyncSession, username: str, code: str, new_password: str, pepper: str
) -> None:
    """First log-in of a member account, or a reset after a forgotten password."""
    now = _now()
    account = await account_by_username(session, username, lock=True)
    invalid = Problem(
        422, "auth.invalid_code", "The username or the code is not right, or the code has expired."
    )
    if account is None:
        raise invalid
    await _check_not_locked(session, account, now)
    found = (
        await session.execute(
            select(OneTimeCode).where(
                OneTimeCode.account_id == account.id,
                OneTimeCode.code_digest == code_digest(code, pepper),
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
            )
        )
    ).scalar_one_or_none()
    if found is None:
        # Codes are guessable by brute force only through this door: count it like a bad password.
        await _record_failure(session, account, now)
        raise invalid
    _check_strength(new_password, account.username)
    # Every open code of the account ends here, not only the one used: a printed activation
    # sheet must not stay a key to the account after a reset, nor the other way round.
    await _retire_codes(session, account.id, now)
    account.status = "active"
    await _set_password(session, account, new_password)


async def org_of(session: AsyncSession, org_id: uuid.UUID) -> OrgNode | None:
    return await replica_node(session, org_id)


async def _account_in_scope(
    session: AsyncSession,
    caller: Caller,
    account_id: uuid.UUID,
    *,
    allow_self: bool,
    lock: bool = True,
) -> Account:
    account = await session.get(Account, account_id, with_for_update=lock)
    if account is None:
        raise account_not_found()
    # The system (the operator's commands) reaches an account whose organisation this copy of
    # the tree does not know, too.
    if (allow_self and caller.account_id == account.id) or caller.is_system:
        return account
    node = await replica_node(session, account.org_id)
    if node is None or not is_admin_over(caller, node.path):
        raise account_not_found()
    return account


async def member_account(session: AsyncSession, caller: Caller, member_id: uuid.UUID) -> Account:
    """A member's account, for the admins over the member's branch (to help with a sign-in)."""
    account_id = (
        await session.execute(select(Account.id).where(Account.member_id == member_id))
    ).scalar_one_or_none()
    if account_id is None:
        raise account_not_found()
    return await _account_in_scope(session, caller, account_id, allow_self=True, lock=False)


async def freeze(session: AsyncSession, caller: Caller, account_id: uuid.UUID, reason: str) -> None:
    account = await _account_in_scope(session, caller, account_id, allow_self=True)
    if account.frozen:
        return
    now = _now()
    account.frozen, account.frozen_reason, account.frozen_at = True, reason, now
    await audit(session, caller, "account.freeze", "account", account.id)
    await record_event(session, AccountFrozen(account_id=account.id, frozen_at=now), PRODUCER)


async def unfreeze(session: AsyncSession, caller: Caller, account_id: uuid.UUID) -> None:
    if caller.account_id == account_id:
        raise Problem(
            403, "account.cannot_unfreeze_self", "Another admin must unfreeze your account."
        )
    account = await _account_in_scope(session, caller, account_id, allow_self=False)
    if account.status == "disabled":
        raise Problem(
            409,
            "account.disabled",
            "This account is closed: its member left the league, or its organisation was dissolved.",
        )
    if not account.frozen:
        return
    now = _now()
    account.frozen, account.frozen_reason, account.frozen_at = False, None, None
    await audit(session, caller, "account.unfreeze", "account", account.id)
    await record_event(session, AccountUnfrozen(account_id=account.id, unfrozen_at=now), PRODUCER)


async def issue_code(
    session: AsyncSession,
    account: Account,
    purpose: Literal["activation", "reset"],
    ttl: timedelta,
    pepper: str,
    created_by: uuid.UUID | None,
    sealer: Sealer | None = None,
) -> tuple[str, datetime]:
    """A new one-time code; with a sealer a sealed copy is kept, so the branch can print it.

    Issuing one retires the account's earlier codes: only the newest handed out works.
    """
    await _retire_codes(session, account.id, _now())
    code = generate_code()
    expires_at = _now() + ttl
    code_id = uuid.uuid4()
    session.add(
        OneTimeCode(
            id=code_id,
            account_id=account.id,
            purpose=purpose,
            code_digest=code_digest(code, pepper),
            code_sealed=sealer.seal(code, code_id.bytes) if sealer else None,
            expires_at=expires_at,
            created_by=created_by,
        )
    )
    await session.flush()
    return code, expires_at


async def _retire_codes(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.account_id == account_id, OneTimeCode.used_at.is_(None))
        .values(used_at=now)
    )


async def one_time_code(
    session: AsyncSession, caller: Caller, account_id: uuid.UUID, ttl: timedelta, pepper: str
) -> tuple[str, datetime]:
    if caller.account_id == account_id:
        # A reset code for oneself would turn a stolen session into a new password without
        # knowing the old one; a change of one's own password goes through /auth/password.
        raise Problem(403, "account.cannot_reset_self", "Another admin must issue your reset code.")
    account = await _account_in_scope(session, caller, account_id, allow_self=False)
    await audit(session, caller, "account.one_time_code", "account", account.id)
    return await issue_code(session, account, "reset", ttl, pepper, caller.account_id)


@dataclass(frozen=True)
class SecurityFinding:
    account_id: uuid.UUID
    username: str
    org_id: uuid.UUID
    org_name: str
    findings: list[str]


# Admin accounts in a subtree with the kinds of finding each has (安全检查), in this order; an
# empty array for an account with nothing to look at. The rules are those of login and lockout.
_ADMIN_FINDINGS = """
    SELECT a.id AS account_id, a.username, a.org_id, o.name AS org_name,
           array_remove(ARRAY[
               CASE WHEN coalesce(a.password_changed_at, a.created_at) < :stale_before
                    THEN 'password_older_than_90_days' END,
               CASE WHEN a.last_login_at IS NULL THEN 'never_logged_in' END,
               CASE WHEN a.frozen THEN 'frozen' END,
               CASE WHEN (SELECT count(*) FROM login_failures f
                          WHERE f.account_id = a.id AND f.failed_at > :window_start)
                         >= :max_failures THEN 'locked' END
           ], NULL) AS findings
    FROM accounts a JOIN org_replica o ON o.id = a.org_id
    WHERE a.role = 'admin' AND o.path @> ARRAY[CAST(:org AS uuid)]
"""
# By username, served by the index of admin usernames; the first page starts after ''.
_FINDINGS_PAGE = text(
    "SELECT * FROM (" + _ADMIN_FINDINGS + ") s "  # noqa: S608 - constants only
    "WHERE cardinality(findings) > 0 AND username > :after ORDER BY username LIMIT :limit"
)
_FINDING_COUNTS = text(
    "SELECT finding, count(*) AS n FROM (" + _ADMIN_FINDINGS + ") s, "  # noqa: S608
    "unnest(s.findings) AS finding GROUP BY finding"
)


def _findings_params(org: OrgNode, max_age: timedelta) -> dict[str, object]:
    now = _now()
    return {
        "org": org.id,
        "stale_before": now - max_age,
        "window_start": now - WINDOW,
        "max_failures": MAX_FAILURES,
    }


async def security_check(
    session: AsyncSession, org: OrgNode, max_age: timedelta, after: str | None, limit: int
) -> list[SecurityFinding]:
    """Admin accounts in the subtree with something to look at, by username after `after`."""
    rows = await session.execute(
        _FINDINGS_PAGE,
        _findings_params(org, max_age) | {"after": after or "", "limit": limit},
    )
    return [
        SecurityFinding(r.account_id, r.username, r.org_id, r.org_name, list(r.findings))
        for r in rows
    ]


async def security_counts(
    session: AsyncSession, org: OrgNode, max_age: timedelta
) -> dict[str, int]:
    """How many admin accounts of the whole subtree have each kind of finding."""
    rows = await session.execute(_FINDING_COUNTS, _findings_params(org, max_age))
    return {r.finding: r.n for r in rows}


def _check_admin_over_parent(caller: Caller, node: OrgNode) -> None:
    # Admin accounts of an organisation are opened by its parent (上级组织).
    if node.parent_id is None or not is_admin_over(caller, node.path[:-1]):
        raise Problem(
            403, "auth.out_of_scope", "Only an admin over the parent organisation may do this."
        )


def _check_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise Problem(
            422,
            "account.bad_username",
            "Usernames are 3-32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter.",
            errors=[{"field": "requested_username", "message": "not a valid username"}],
        )
    return username


async def record_application(
    session: AsyncSession,
    caller: Caller,
    org_id: uuid.UUID,
    *,
    responsible_name: str,
    responsible_phone: str,
    requested_username: str,
    form_document_id: uuid.UUID,
) -> AdminApplication:
    node = await known_replica_node(session, org_id)
    _check_admin_over_parent(caller, node)
    if node.status != "active":
        raise Problem(409, "org.not_active", "The organisation is dissolved.")
    username = _check_username(requested_username)
    if await account_by_username(session, username) is not None:
        raise Problem(409, "account.username_taken", "This username is already taken.")
    application = AdminApplication(
        org_id=node.id,
        parent_org_id=node.parent_id,
        responsible_name=responsible_name,
        responsible_phone=responsible_phone,
        requested_username=username,
        form_document_id=form_document_id,
        status="pending",
        created_by=caller.account_id,
    )
    session.add(application)
    await session.flush()
    await audit(session, caller, "admin_application.record", "admin_application", application.id)
    return application


async def _pending_application(
    session: AsyncSession, caller: Caller, application_id: uuid.UUID
) -> tuple[AdminApplication, OrgNode]:
    application = await session.get(AdminApplication, application_id, with_for_update=True)
    if application is None:
        raise Problem(404, "application.not_found", "No such application.")
    node = await known_replica_node(session, application.org_id)
    if not is_admin_over(caller, node.path[:-1]):
        raise Problem(404, "application.not_found", "No such application.")
    if application.status != "pending":
        raise Problem(
            409,
            "application.already_decided",
            f"This application was already {application.status}.",
        )
    return application, node


async def create_account(
    session: AsyncSession,
    *,
    username: str,
    password: str | None,
    role: Literal["admin", "member"],
    org_id: uuid.UUID,
    member_id: uuid.UUID | None,
    must_change: bool,
    created_by: uuid.UUID | None,
    display_name: str | None = None,
) -> Account:
    account = Account(
        id=uuid.uuid4(),
        username=username,
        display_name=display_name,
        role=role,
        org_id=org_id,
        member_id=member_id,
        password_hash=await hash_password(password) if password else None,
        status="active" if password else "pending_activation",
        frozen=False,
        must_change_password=must_change,
        password_changed_at=None if must_change else _now(),
        created_by=created_by,
    )
    session.add(account)
    with conflict_on_duplicate("account.username_taken", "This username is already taken."):
        await session.flush()
    await record_event(
        session,
        AccountCreated(
            account_id=account.id,
            username=account.username,
            role=role,
            org_id=org_id,
            member_id=member_id,
            status="active" if password else "pending_activation",
        ),
        PRODUCER,
    )
    return account


async def approve_application(
    session: AsyncSession, caller: Caller, application_id: uuid.UUID
) -> tuple[Account, str]:
    application, node = await _pending_application(session, caller, application_id)
    # Read again under a share lock: a dissolution being applied (identity.moves.org_dissolved)
    # holds the row; applied after this commits, it disables the account made here.
    status = await session.scalar(
        text("SELECT status FROM org_replica WHERE id = :id FOR SHARE"), {"id": node.id}
    )
    if status != "active":
        raise Problem(409, "org.not_active", "The organisation was dissolved meanwhile.")
    initial_password = generate_password()
    account = await create_account(
        session,
        username=application.requested_username,
        password=initial_password,
        role="admin",
        org_id=node.id,
        member_id=None,
        must_change=True,
        created_by=caller.account_id,
    )
    application.status, application.decided_by, application.decided_at = (
        "approved",
        caller.account_id,
        _now(),
    )
    application.account_id = account.id
    await audit(session, caller, "admin_application.approve", "admin_application", application.id)
    return account, initial_password


async def reject_application(
    session: AsyncSession, caller: Caller, application_id: uuid.UUID, reason: str
) -> AdminApplication:
    application, _ = await _pending_application(session, caller, application_id)
    application.status, application.decided_by, application.decided_at = (
        "rejected",
        caller.account_id,
        _now(),
    )
    application.reject_reason = reason
    await audit(session, caller, "admin_application.reject", "admin_application", application.id)
    return application


async def frozen_account_ids(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Frozen accounts by id after `after` (index: accounts_frozen)."""
    stmt = select(Account.id).where(Account.frozen).order_by(Account.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Account.id > after)
    return list((await session.execute(stmt)).scalars())


def activation_sealer(secret: str) -> Sealer:
    """Seals the copies of activation codes; the key is derived from the installation secret."""
    return Sealer({"d1": derive_key(secret, "identity/activation-codes")}, "d1")


async def open_member_accounts(
    session: AsyncSession,
    events: Sequence[MemberCreated],
    *,
    ttl: timedelta,
    pepper: str,
    sealer: Sealer,
) -> int:
    """New member records get their accounts at once, pending activation, each with a one-time
    code the branch hands out (the regulation wants the account within 15 working days of
    joining; doing it now leaves no gap). Set-based: an import brings thousands at a time.
    Returns how many accounts were opened; members who have one already are left as they are."""
    member_ids = [e.member_id for e in events]
    have = set(
        (
            await session.execute(
                select(Account.member_id).where(Account.member_id.in_(member_ids))
            )
        ).scalars()
    )
    now = _now()
    accounts: list[dict[str, object]] = []
    codes: list[dict[str, object]] = []
    created: list[AccountCreated] = []
    for event in events:
        if event.member_id in have:
            continue
        have.add(event.member_id)
        account_id, code_id, code = uuid.uuid4(), uuid.uuid4(), generate_code()
        accounts.append(
            {
                "id": account_id,
                "username": event.member_no.lower(),
                "display_name": event.name,
                "role": "member",
                "org_id": event.branch_id,
                "member_id": event.member_id,
                "password_hash": None,
                "status": "pending_activation",
                "frozen": False,
                "must_change_password": False,
                "password_changed_at": now,
                "created_by": None,
                "created_at": now,
            }
        )
        codes.append(
            {
                "id": code_id,
                "account_id": account_id,
                "purpose": "activation",
                "code_digest": code_digest(code, pepper),
                "code_sealed": sealer.seal(code, code_id.bytes),
                "expires_at": now + ttl,
                "used_at": None,
                "created_by": None,
                "created_at": now,
            }
        )
        created.append(
            AccountCreated(
                account_id=account_id,
                username=event.member_no.lower(),
                role="member",
                org_id=event.branch_id,
                member_id=event.member_id,
                status="pending_activation",
            )
        )
    if not accounts:
        return 0
    await session.execute(insert(Account), accounts)
    await session.execute(insert(OneTimeCode), codes)
    await record_events(session, created, PRODUCER)
    return len(accounts)


@dataclass(frozen=True)
class PendingActivation:
    member_id: uuid.UUID | None
    name: str | None
    username: str
    activation_code: str | None
    expires_at: datetime | None


async def pending_activations(
    session: AsyncSession, branch_id: uuid.UUID, sealer: Sealer, after: str | None, limit: int
) -> list[PendingActivation]:
    """Member accounts of the branch still pending activation, by username after `after`, each
    with its newest open activation code (index: accounts_pending)."""
    code = (
        select(OneTimeCode.id, OneTimeCode.code_sealed, OneTimeCode.expires_at)
        .where(
            OneTimeCode.account_id == Account.id,
            OneTimeCode.purpose == "activation",
            OneTimeCode.used_at.is_(None),
        )
        .order_by(OneTimeCode.created_at.desc())
        .limit(1)
        .lateral()
    )
    stmt = (
        select(
            Account.member_id,
            Account.display_name,
            Account.username,
            code.c.id,
            code.c.code_sealed,
            code.c.expires_at,
        )
        .outerjoin(code, true())
        .where(
            Account.org_id == branch_id,
            Account.role == "member",
            Account.status == "pending_activation",
        )
        .order_by(Account.username)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(Account.username > after)
    return [
        PendingActivation(
            r.member_id,
            r.display_name,
            r.username,
            sealer.open(r.code_sealed, r.id.bytes) if r.code_sealed else None,
            r.expires_at,
        )
        for r in await session.execute(stmt)
    ]
