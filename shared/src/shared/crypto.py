"""Authenticated encryption of personal data at rest (AES-256-GCM) with key ids for rotation,
and keyed hashes for look-up and uniqueness without the plaintext."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = "v1"


class CannotDecrypt(Exception):
    """Unknown key id, or the ciphertext (or its associated data) was tampered with."""


def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose from an installation secret (HKDF-SHA256)."""
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret.encode()
    )


def decode_key(text: str) -> bytes:
    key = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4))
    if len(key) != 32:
        raise ValueError("an encryption key must be 32 bytes (base64)")
    return key


class Sealer:
    """Encrypts with the active key; decrypts with any configured key, so keys can be rotated:
    add the new key, make it active, re-encrypt, then retire the old one."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active key {active_key_id!r} is not among the configured keys")
        for key_id in keys:
            if "." in key_id:
                raise ValueError("key ids may not contain '.'")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    def seal(self, plaintext: str, associated_data: bytes = b"") -> str:
        nonce = os.urandom(12)
        ciphertext = self._keys[self.active_key_id].encrypt(
            nonce, plaintext.encode(), associated_data
        )
        blob = base64.urlsafe_b64encode(nonce + ciphertext).decode().rstrip("=")
        return f"{FORMAT}.{self.active_key_id}.{blob}"

    def open(self, sealed: str, associated_data: bytes = b"") -> str:
        try:
            version, key_id, blob = sealed.split(".", 2)
        except ValueError as exc:
            raise CannotDecrypt("not a sealed value") from exc
        if version != FORMAT or key_id not in self._keys:
            raise CannotDecrypt(f"no key {key_id!r}")
        raw = base64.urlsafe_b64decode(blob.encode() + b"=" * (-len(blob) % 4))
        try:
            return self._keys[key_id].decrypt(raw[:12], raw[12:], associated_data).decode()
        except InvalidTag as exc:
            raise CannotDecrypt("tampered or wrong key") from exc

    @staticmethod
    def key_id_of(sealed: str) -> str:
        return sealed.split(".", 2)[1]


def configured_sealer(
    keys: Mapping[str, str], active_key_id: str | None, secret: str, purpose: str
) -> Sealer:
    """The sealer for personal data at rest (ID numbers, incomes), as every service configures
    it: `keys` maps a key id to base64 of 32 bytes; several may be configured so one can be
    rotated, new values take the active one (the newest id unless named). Without keys (a
    developer's machine) one key is derived from the installation secret for `purpose`."""
    if not keys:
        return Sealer({"d1": derive_key(secret, purpose)}, "d1")
    decoded = {kid: decode_key(value) for kid, value in keys.items()}
    return Sealer(decoded, active_key_id or sorted(decoded)[-1])


def keyed_hash(key: bytes, value: str) -> str:
    """HMAC-SHA256: equal values hash equal (uniqueness, look-up); the hash reveals nothing
    without the key, unlike a plain hash of an ID number, which can be brute-forced."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
