"""The rectification state machine and the inspection rules, without I/O."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from org.domain.supervision import (
    AWAITING_LOWER,
    TRANSITIONS,
    Refused,
    after,
    check_areas,
    check_due_days,
    check_inspectable,
    is_overdue,
)


def test_a_report_goes_back_and_forth_until_accepted() -> None:
    status = "open"
    for action, expected in [
        ("submit", "submitted"),
        ("send_back", "sent_back"),
        ("submit", "submitted"),
        ("accept", "accepted"),
    ]:
        status = after(status, action)  # type: ignore[arg-type]
        assert status == expected


@pytest.mark.parametrize("status", ["open", "submitted", "sent_back", "accepted"])
@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_every_action_from_a_state_that_does_not_allow_it_is_a_conflict(
    status: str, action: str
) -> None:
    allowed, _ = TRANSITIONS[action]  # type: ignore[index]
    if status in allowed:
        assert after(status, action)  # type: ignore[arg-type]
    else:
        with pytest.raises(Refused) as refused:
            after(status, action)  # type: ignore[arg-type]
        assert (refused.value.status, refused.value.code) == (409, "rectification.wrong_state")


def test_an_accepted_notice_is_final() -> None:
    assert not any("accepted" in allowed for allowed, _ in TRANSITIONS.values())


def test_only_organisations_strictly_below_are_inspected() -> None:
    root, city, county, other = (uuid.uuid4() for _ in range(4))
    check_inspectable(root, [root, city, county])
    check_inspectable(city, [root, city, county])
    for inspector, path in [(county, [root, city, county]), (other, [root, city, county])]:
        with pytest.raises(Refused) as refused:
            check_inspectable(inspector, path)  # type: ignore[arg-type]
        assert refused.value.code == "inspection.not_below"


def test_areas_are_chosen_once_each_and_due_days_are_bounded() -> None:
    check_areas(["dues", "accounts"])
    for areas in ([], ["dues", "dues"]):
        with pytest.raises(Refused):
            check_areas(areas)
    check_due_days(1)
    check_due_days(60)
    for days in (0, 61):
        with pytest.raises(Refused):
            check_due_days(days)


def test_a_notice_is_overdue_only_while_it_waits_for_the_lower_organisation() -> None:
    due, today = date(2026, 12, 10), date(2026, 12, 11)
    assert {"open", "sent_back"} == AWAITING_LOWER
    assert is_overdue("open", due, today) and is_overdue("sent_back", due, today)
    assert not is_overdue("submitted", due, today) and not is_overdue("accepted", due, today)
    assert not is_overdue("open", due, due)  # due that day: still in time
