"""Password strength, generated passwords, lockout window and one-time codes."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from identity.domain.codes import code_digest, generate_code
from identity.domain.lockout import locked_until
from identity.domain.passwords import generate_password, password_weaknesses

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_short_or_single_class_passwords_are_weak() -> None:
    assert password_weaknesses("Ab1!", "u")
    assert password_weaknesses("abcdefghijkl", "u")
    assert password_weaknesses("Zhangsan-2026!", "zhangsan") == ["must not contain the username"]
    assert password_weaknesses("Tuan-Yuan-2026", "admin") == []


@settings(max_examples=200)
@given(st.integers(min_value=12, max_value=32))
def test_generated_passwords_always_pass_the_rule(length: int) -> None:
    assert password_weaknesses(generate_password(length), "admin") == []


def test_four_failures_do_not_lock_and_five_within_fifteen_minutes_do() -> None:
    four = [NOW - timedelta(minutes=m) for m in range(4)]
    assert locked_until(four, NOW) is None
    five = [*four, NOW - timedelta(minutes=10)]
    assert locked_until(five, NOW) == NOW - timedelta(minutes=10) + timedelta(minutes=15)


def test_failures_older_than_the_window_do_not_count() -> None:
    old = [NOW - timedelta(minutes=16 + m) for m in range(10)]
    assert locked_until(old, NOW) is None


def test_codes_are_compared_ignoring_case_and_dashes() -> None:
    code = generate_code()
    assert code_digest(code.lower(), "p") == code_digest(code[:5] + "-" + code[5:], "p")
    assert code_digest(code, "p") != code_digest(code, "other pepper")
