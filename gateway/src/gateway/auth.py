"""Access tokens: checking identity's Ed25519 signature and reading the caller from the claims."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from shared.caller import Caller
from shared.logging import get_logger
from shared.problems import Problem

log = get_logger(__name__)

ALGORITHMS = ["EdDSA"]
# Tolerated clock difference between identity and the gateway.
LEEWAY_SECONDS = 10


@dataclass(frozen=True)
class Claims:
    account_id: uuid.UUID
    role: Literal["admin", "member"]
    org_id: uuid.UUID
    member_id: uuid.UUID | None
    username: str | None
    password_change_required: bool

    def caller(self) -> Caller:
        return Caller(self.account_id, self.role, self.org_id, self.member_id, self.username)


def not_authenticated() -> Problem:
    return Problem(
        401,
        "auth.not_authenticated",
        "This route needs an access token.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def invalid_token(detail: str = "The access token is not valid.") -> Problem:
    return Problem(
        401,
        "auth.invalid_token",
        detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header; None when there is no header at all."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise invalid_token("Send the access token as `Authorization: Bearer <token>`.")
    return token.strip()


class PublicKeyFile:
    """Identity's public key, re-read whenever the file changes.

    Identity may create the key after the gateway starts, and an operator may rotate it in
    place; a file that vanishes for a moment (rename-over) keeps the last key in use.
    """

    # Looking at the file on every request was a twentieth of the gateway's CPU. A key is
    # looked at again a second later at most, or at once when a token does not verify with it
    # (a rotated key signs the tokens of the next logins): the old key works for one second more.
    RECHECK_SECONDS = 1.0

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock = clock
        self._checked_at = -math.inf
        self._stamp: tuple[int, int] | None = None
        self._key: Ed25519PublicKey | None = None
        self._missing_logged = False

    def get(self, *, fresh: bool = False) -> Ed25519PublicKey | None:
        if self._path is None:
            return None
        now = self._clock()
        if self._key is not None and not fresh and now - self._checked_at < self.RECHECK_SECONDS:
            return self._key
        self._checked_at = now
        try:
            stat = self._path.stat()
        except OSError:
            if not self._missing_logged:
                log.warning("jwt_public_key_missing", path=str(self._path))
                self._missing_logged = True
            return self._key
        self._missing_logged = False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            # Remember the stamp even when the content is bad: a half-written file is read
            # again once it changes, not on every request.
            self._stamp = stamp
            try:
                key = load_pem_public_key(self._path.read_bytes())
                if not isinstance(key, Ed25519PublicKey):
                    raise ValueError("not an Ed25519 public key")
                self._key = key
            except (OSError, ValueError, UnsupportedAlgorithm) as exc:
                log.warning("jwt_public_key_unreadable", path=str(self._path), error=str(exc))
        return self._key


class TokenVerifier:
    """Checks tokens, remembering the ones it has verified until they expire.

    A client sends the same token with every request for up to two hours; checking its Ed25519
    signature and parsing its claims each time was a tenth of the gateway's CPU per request.
    A remembered token is tied to the key that verified it, so a rotated key re-checks all.
    """

    CACHE_SIZE = 50_000

    def __init__(self, keys: PublicKeyFile, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock
        self._verified: dict[str, tuple[Claims, float, Ed25519PublicKey]] = {}

    @property
    def ready(self) -> bool:
        return self._keys.get() is not None

    def verify(self, token: str) -> Claims:
        key = self._keys.get()
        if key is None:
            raise Problem(
                503, "gateway.auth_unavailable", "The gateway has no key to check tokens with."
            )
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, expires_at, verified_with = remembered
            if verified_with is key and self._clock() < expires_at:
                return claims
            del self._verified[token]
            if verified_with is key:
                raise invalid_token("The access token has expired.")
        try:
            payload = _decode(token, key)
        except jwt.InvalidSignatureError:
            newer = self._keys.get(fresh=True)  # signed with a key rotated a moment ago?
            if newer is None or newer is key:
                raise invalid_token() from None
            key = newer
            try:
                payload = _decode(token, key)
            except (jwt.PyJWTError, TypeError, ValueError) as exc:
                raise invalid_token() from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise invalid_token() from exc
        try:
            expires_at = float(payload["exp"]) + LEEWAY_SECONDS
        except (TypeError, ValueError) as exc:
            raise invalid_token() from exc
        if self._clock() >= expires_at:
            raise invalid_token("The access token has expired.")
        try:
            claims = claims_from_payload(payload)
        except (KeyError, ValueError, TypeError) as exc:
            raise invalid_token() from exc
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()  # rare; the next requests verify again
        self._verified[token] = (claims, expires_at, key)
        return claims


def _decode(token: str, key: Ed25519PublicKey) -> dict[str, Any]:
    # Expiry is checked by the caller against our own clock, the one remembered tokens obey too.
    return jwt.decode(
        token,
        key,
        algorithms=ALGORITHMS,
        leeway=LEEWAY_SECONDS,
        options={"require": ["sub", "exp", "iat", "role", "org"], "verify_exp": False},
    )


def claims_from_payload(payload: dict[str, Any]) -> Claims:
    role = payload["role"]
    if role not in ("admin", "member"):
        raise ValueError("unknown role")
    member = payload.get("mid")
    username = payload.get("usr")
    pcr = payload.get("pcr", False)
    if not isinstance(pcr, bool) or not (username is None or isinstance(username, str)):
        raise ValueError("malformed claims")
    return Claims(
        account_id=uuid.UUID(str(payload["sub"])),
        role=role,
        org_id=uuid.UUID(str(payload["org"])),
        member_id=uuid.UUID(str(member)) if member else None,
        username=username,
        password_change_required=pcr,
    )
