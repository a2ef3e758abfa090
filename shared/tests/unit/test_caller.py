"""The signed caller header services trust."""

import uuid

import pytest

from shared.caller import (
    CALLER_HEADER,
    OPERATOR_CALLER,
    SIGNATURE_HEADER,
    BadCallerHeader,
    Caller,
    sign_caller,
    verify_caller,
)

SECRET = "s3cret"
ADMIN = Caller(account_id=uuid.uuid4(), role="admin", org_id=uuid.uuid4(), username="county")


def test_a_signed_caller_round_trips() -> None:
    headers = sign_caller(ADMIN, SECRET, now=1000)
    assert (
        verify_caller(headers[CALLER_HEADER], headers[SIGNATURE_HEADER], SECRET, now=1001) == ADMIN
    )


def test_a_caller_signed_with_another_secret_is_refused() -> None:
    headers = sign_caller(ADMIN, "other", now=1000)
    with pytest.raises(BadCallerHeader):
        verify_caller(headers[CALLER_HEADER], headers[SIGNATURE_HEADER], SECRET, now=1000)


def test_a_caller_header_edited_to_claim_another_org_is_refused() -> None:
    headers = sign_caller(ADMIN, SECRET, now=1000)
    forged = sign_caller(Caller(ADMIN.account_id, "admin", uuid.uuid4()), SECRET, now=1000)
    with pytest.raises(BadCallerHeader):
        verify_caller(forged[CALLER_HEADER], headers[SIGNATURE_HEADER], SECRET, now=1000)


def test_a_replayed_old_caller_header_is_refused() -> None:
    headers = sign_caller(ADMIN, SECRET, now=2000)
    with pytest.raises(BadCallerHeader):
        verify_caller(headers[CALLER_HEADER], headers[SIGNATURE_HEADER], SECRET, now=2000 + 3600)


def test_a_header_accepted_once_is_refused_when_replayed_later() -> None:
    # Verified headers are remembered (a peak sends the same one many times a second); the
    # remembered one must go stale all the same.
    headers = sign_caller(ADMIN, SECRET, now=3000)
    raw, signature = headers[CALLER_HEADER], headers[SIGNATURE_HEADER]
    assert verify_caller(raw, signature, SECRET, now=3000) == ADMIN
    with pytest.raises(BadCallerHeader):
        verify_caller(raw, signature, SECRET, now=3000 + 301)


def test_the_same_caller_in_the_same_second_gets_the_same_header_and_another_second_a_new_one() -> (
    None
):
    first = sign_caller(ADMIN, SECRET, now=4000.2)
    assert sign_caller(ADMIN, SECRET, now=4000.9) == first
    assert sign_caller(ADMIN, SECRET, now=4001)[CALLER_HEADER] != first[CALLER_HEADER]
    # What the caller adds to its headers is not remembered for the next request.
    first["x-extra"] = "1"
    assert "x-extra" not in sign_caller(ADMIN, SECRET, now=4000)


def test_a_signature_with_characters_outside_ascii_is_simply_wrong() -> None:
    headers = sign_caller(ADMIN, SECRET, now=1000)
    with pytest.raises(BadCallerHeader):
        verify_caller(headers[CALLER_HEADER], "签名" * 32, SECRET, now=1000)


def test_no_request_can_pose_as_the_operator_even_signed_with_the_secret() -> None:
    headers = sign_caller(OPERATOR_CALLER, SECRET, now=1000)
    with pytest.raises(BadCallerHeader):
        verify_caller(headers[CALLER_HEADER], headers[SIGNATURE_HEADER], SECRET, now=1000)
