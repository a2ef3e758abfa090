"""`Idempotency-Key` on POSTs that move money or import: a repeat with the same key gets the first
response and changes nothing; the same key with a different request is refused."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.problems import Problem

KEEP = timedelta(days=3)


def request_hash(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: Any


async def replay(
    session: AsyncSession, account_id: uuid.UUID, key: str, fingerprint: str
) -> Stored | None:
    """The stored response for this key, None for a new key. Locks the key for this transaction
    so two concurrent first attempts cannot both run."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"{account_id}:{key}"}
    )
    row = (
        await session.execute(
            text(
                "SELECT request_hash, status_code, response FROM idempotency_keys "
                "WHERE account_id = :a AND key = :k"
            ),
            {"a": account_id, "k": key},
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise Problem(
            422,
            "request.idempotency_key_reused",
            "This Idempotency-Key was used for a different request.",
        )
    return Stored(row.status_code, row.response)


async def remember(
    session: AsyncSession,
    account_id: uuid.UUID,
    key: str,
    fingerprint: str,
    status_code: int,
    body: Any,
) -> None:
    # Keys are for retries of one request, not for ever: old ones go as new ones come.
    await session.execute(
        text("DELETE FROM idempotency_keys WHERE created_at < now() - CAST(:keep AS interval)"),
        {"keep": KEEP},
    )
    await session.execute(
        text(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, status_code, response) "
            "VALUES (:a, :k, :h, :s, CAST(:r AS jsonb))"
        ),
        {
            "a": account_id,
            "k": key,
            "h": fingerprint,
            "s": status_code,
            "r": json.dumps(body, default=str),
        },
    )


async def forget(session: AsyncSession, account_id: uuid.UUID, key: str) -> None:
    """The key's stored answer is dropped: what it answered did not happen after all (a payment
    the provider never took), so a retry with the same key must run again, not replay it."""
    await session.execute(
        text("DELETE FROM idempotency_keys WHERE account_id = :a AND key = :k"),
        {"a": account_id, "k": key},
    )


async def answered_once(
    session: AsyncSession,
    account_id: uuid.UUID | None,
    key: str | None,
    fingerprint: str,
    status_code: int,
    write: Callable[[], Awaitable[Any]],
) -> Stored:
    """`write`'s answer (JSON-ready), in the session's transaction, kept under the caller's
    `Idempotency-Key` when there is one; a repeat gets the first answer and writes nothing.
    Without a key (or an account to scope it to) the write simply runs."""
    if account_id is None or not key:
        return Stored(status_code, await write())
    stored = await replay(session, account_id, key, fingerprint)
    if stored is not None:
        return stored
    answer = await write()
    await remember(session, account_id, key, fingerprint, status_code, answer)
    return Stored(status_code, answer)
