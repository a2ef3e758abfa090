"""Authenticated encryption with rotation, and keyed hashes."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.crypto import CannotDecrypt, Sealer, derive_key, keyed_hash

OLD, NEW = os.urandom(32), os.urandom(32)


@given(st.text(max_size=200))
def test_whatever_is_sealed_opens_to_the_same_text(text: str) -> None:
    sealer = Sealer({"k1": OLD}, "k1")
    assert sealer.open(sealer.seal(text, b"row-1"), b"row-1") == text


def test_the_sealed_value_does_not_contain_the_plaintext() -> None:
    sealed = Sealer({"k1": OLD}, "k1").seal("110101199003071234")
    assert "1234" not in sealed and "110101" not in sealed


def test_after_rotation_both_keys_open_and_new_values_use_the_new_key() -> None:
    before = Sealer({"k1": OLD}, "k1").seal("秘密")
    rotated = Sealer({"k1": OLD, "k2": NEW}, "k2")
    after = rotated.seal("秘密")
    assert rotated.open(before) == rotated.open(after) == "秘密"
    assert (Sealer.key_id_of(before), Sealer.key_id_of(after)) == ("k1", "k2")


def test_a_tampered_value_or_other_row_is_refused() -> None:
    sealer = Sealer({"k1": OLD}, "k1")
    sealed = sealer.seal("秘密", b"row-1")
    with pytest.raises(CannotDecrypt):
        sealer.open(sealed, b"row-2")
    with pytest.raises(CannotDecrypt):
        sealer.open(sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1], b"row-1")
    with pytest.raises(CannotDecrypt):
        Sealer({"k2": NEW}, "k2").open(sealed, b"row-1")


def test_keyed_hashes_match_for_equal_values_and_depend_on_the_key() -> None:
    assert keyed_hash(OLD, "x") == keyed_hash(OLD, "x") != keyed_hash(NEW, "x")
    assert derive_key("secret", "a") != derive_key("secret", "b")
