"""Access tokens: EdDSA (Ed25519) JWTs, verifiable by the gateway with the public key alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from identity.db import Account


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the PEM private key; for a local run with none configured, create it (mode 600)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey), "the JWT key must be Ed25519"
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    path.with_name(path.stem + ".pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def issue_token(
    key: Ed25519PrivateKey, account: Account, ttl: timedelta, now: datetime | None = None
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(account.id),
        "role": account.role,
        "org": str(account.org_id),
        "mid": str(account.member_id) if account.member_id else None,
        "usr": account.username,
        "pcr": account.must_change_password,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="EdDSA")
