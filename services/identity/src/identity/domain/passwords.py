"""Password rules: strength of a chosen password, and generation of initial ones."""

from __future__ import annotations

import secrets
import string

MIN_LENGTH = 10
_SYMBOLS = "!@#$%^&*()-_=+[]{};:,.?/"


def password_weaknesses(password: str, username: str) -> list[str]:
    """What is wrong with a new password, in words a user can act on; empty when it is fine."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        problems.append("at least three of: lower-case, upper-case, digit, symbol")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    return problems


def generate_password(length: int = 16) -> str:
    """A random password that always passes the strength rule (one of each class, then any)."""
    alphabet = string.ascii_letters + string.digits + _SYMBOLS
    picks = [
        secrets.choice(string.ascii_lowercase),
        secrets.choice(string.ascii_uppercase),
        secrets.choice(string.digits),
        secrets.choice(_SYMBOLS),
        *(secrets.choice(alphabet) for _ in range(length - 4)),
    ]
    # Shuffle so the classes are not always in the same positions.
    return "".join(secrets.SystemRandom().sample(picks, len(picks)))
