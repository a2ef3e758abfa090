"""One-time codes (activation, forgotten password): short, unambiguous to read aloud, hashed at rest."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# No 0/O, 1/I/L: codes are read off paper and typed by hand.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10


def generate_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def code_digest(code: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), normalise_code(code).encode(), hashlib.sha256).hexdigest()
