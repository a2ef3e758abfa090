"""An unknown username is checked against a stand-in hash made with the same parameters as
every account's, so a miss costs what a hit does."""

from __future__ import annotations

from argon2 import PasswordHasher

from identity.passwords import _dummy_hash, hash_password, verify_password


async def test_an_unknown_user_is_checked_against_a_hash_as_costly_as_a_real_one() -> None:
    real = await hash_password("Initial-Pass-2026")
    hasher = PasswordHasher()
    assert not hasher.check_needs_rehash(_dummy_hash())  # today's parameters, as `real` has
    assert _dummy_hash().split("$")[:4] == real.split("$")[:4]  # argon2id, version, m/t/p
    assert await verify_password(None, "no such account: timing equaliser") is False
    assert await verify_password(real, "Initial-Pass-2026") is True
