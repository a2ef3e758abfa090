"""Who is calling: the identity the gateway verified, forwarded to services in a signed header.

Services listen on the loopback or a private network and still trust only a header signed with
the installation's internal secret (HMAC-SHA256, with a time stamp against replay), so a process
that can reach a service directly cannot pose as an admin without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

CALLER_HEADER = "x-league-caller"
SIGNATURE_HEADER = "x-league-caller-signature"
MAX_AGE_SECONDS = 300

# "operator": a person running a command on a machine with the database settings (see
# OPERATOR_CALLER); it never arrives in a header.
Role = Literal["admin", "member", "system", "operator"]


@dataclass(frozen=True)
class Caller:
    account_id: uuid.UUID | None
    role: Role
    org_id: uuid.UUID | None
    member_id: uuid.UUID | None = None
    username: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_system(self) -> bool:
        # The operator reaches what the system reaches; the audit log tells the two apart.
        return self.role in ("system", "operator")

    def as_dict(self) -> dict[str, str | None]:
        return {
            "account_id": str(self.account_id) if self.account_id else None,
            "role": self.role,
            "org_id": str(self.org_id) if self.org_id else None,
            "member_id": str(self.member_id) if self.member_id else None,
            "username": self.username,
        }


SYSTEM_CALLER = Caller(account_id=None, role="system", org_id=None, username="system")
# Who acts in an operator command (`zhtj-identity unfreeze`, ...): audited as `operator`.
# verify_caller refuses the role, so no request can pose as one.
OPERATOR_CALLER = Caller(account_id=None, role="operator", org_id=None, username="operator")


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


# The header of the same caller within the same second is the same: a branch secretary entering
# her branch's cash payments sends a dozen a minute, a peak's gateway hundreds a second. Signing
# (JSON, base64, HMAC) and verifying (the same, and three UUIDs parsed) cost ~25 µs each; a hit
# costs a dictionary lookup. Bounded: emptied when full, and an entry of another second is
# simply not found again (sign) or refused as stale as any header is (verify).
_CACHE_LIMIT = 4096
_signed: dict[tuple[Caller, str, int], dict[str, str]] = {}
_verified: dict[tuple[str, str, str], tuple[Caller, int]] = {}
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder, not one a call


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _hmac(secret: str, raw: str) -> str:
    return hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()


def sign_caller(caller: Caller, secret: str, now: float | None = None) -> dict[str, str]:
    ts = int(now if now is not None else time.time())
    key = (caller, secret, ts)
    signed = _signed.get(key)
    if signed is None:
        payload = dict(caller.as_dict(), ts=ts)
        raw = base64.urlsafe_b64encode(_COMPACT_JSON.encode(payload).encode()).decode()
        signed = {CALLER_HEADER: raw, SIGNATURE_HEADER: _hmac(secret, raw)}
        _remember(_signed, key, signed)
    return dict(signed)  # the caller's to extend


class BadCallerHeader(Exception):
    pass


def verify_caller(raw: str, signature: str, secret: str, now: float | None = None) -> Caller:
    key = (signature, raw, secret)
    known = _verified.get(key)
    if known is None:
        caller, ts = _verified_anew(raw, signature, secret)
        _remember(_verified, key, (caller, ts))
    else:
        caller, ts = known
    # Checked on every use, a remembered header too: it goes stale as any other.
    if abs((now if now is not None else time.time()) - ts) > MAX_AGE_SECONDS:
        raise BadCallerHeader("stale caller header")
    return caller


def _verified_anew(raw: str, signature: str, secret: str) -> tuple[Caller, int]:
    # Compared as bytes: compare_digest refuses str with characters outside ASCII.
    if not hmac.compare_digest(_hmac(secret, raw).encode(), signature.encode("utf-8", "replace")):
        raise BadCallerHeader("bad signature")
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw.encode()))
        ts = int(payload["ts"])
        role = payload["role"]
        if role not in ("admin", "member", "system"):
            raise BadCallerHeader("unknown role")
        caller = Caller(
            account_id=_uuid(payload.get("account_id")),
            role=role,
            org_id=_uuid(payload.get("org_id")),
            member_id=_uuid(payload.get("member_id")),
            username=payload.get("username"),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise BadCallerHeader("malformed caller header") from exc
    return caller, ts
