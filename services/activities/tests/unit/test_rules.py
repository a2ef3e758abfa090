"""When an activity may be published, signed up for, taken back and summarised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.domain.activity import (
    Refused,
    check_cancel_allowed,
    check_new,
    check_signup_open,
    check_summary_allowed,
)

NOW = datetime(2027, 5, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def refused_code(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(Refused) as refusal:
        call(*args, **kwargs)
    return refusal.value.code


def test_a_new_activity_spans_real_time_ahead_and_closes_sign_up_by_its_start() -> None:
    check_new(starts_at=NOW + HOUR, ends_at=NOW + 2 * HOUR, signup_deadline=NOW + HOUR, now=NOW)
    # Already begun but not over: still worth publishing (a day-long event).
    check_new(starts_at=NOW - HOUR, ends_at=NOW + HOUR, signup_deadline=None, now=NOW)
    new = {"signup_deadline": None, "now": NOW}
    assert refused_code(check_new, starts_at=NOW + HOUR, ends_at=NOW + HOUR, **new) == (
        "activity.ends_before_start"
    )
    assert refused_code(check_new, starts_at=NOW - 2 * HOUR, ends_at=NOW, **new) == (
        "activity.already_over"
    )
    assert (
        refused_code(
            check_new,
            starts_at=NOW + HOUR,
            ends_at=NOW + 3 * HOUR,
            signup_deadline=NOW + 2 * HOUR,
            now=NOW,
        )
        == "activity.deadline_after_start"
    )


def test_sign_up_closes_at_the_deadline_or_else_the_start() -> None:
    check_signup_open(NOW, NOW + HOUR, NOW + timedelta(minutes=1))
    assert refused_code(check_signup_open, NOW, NOW + HOUR, NOW) == "activity.closed"
    check_signup_open(NOW, NOW + HOUR, None)
    assert refused_code(check_signup_open, NOW, NOW, None) == "activity.closed"


def test_a_sign_up_is_taken_back_before_the_start_and_the_summary_written_after_the_end() -> None:
    check_cancel_allowed(NOW, NOW + HOUR)
    assert refused_code(check_cancel_allowed, NOW, NOW) == "activity.closed"
    check_summary_allowed(NOW, NOW)
    assert refused_code(check_summary_allowed, NOW, NOW + HOUR) == "activity.not_over"
