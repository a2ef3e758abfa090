"""Founding and dissolution rules on the real working-day calendar."""

from datetime import date

from org.domain.rules import (
    can_have_children,
    creation_is_late,
    dissolution_due_by,
    sniff_content_type,
)
from shared.calendar import WorkingDayCalendar

CAL = WorkingDayCalendar()


def test_a_branch_has_no_children_and_committees_do() -> None:
    assert not can_have_children("branch")
    assert all(can_have_children(t) for t in ("committee", "working_committee", "general_branch"))


def test_thirty_working_days_stretch_over_the_national_day_holiday() -> None:
    # Approved 2026-09-15: the Mid-Autumn and National Day holidays push the 30th working day
    # to 2026-11-02 even though 30 calendar days would end in mid October.
    deadline = CAL.add_working_days(date(2026, 9, 15), 30)
    assert not creation_is_late(date(2026, 9, 15), deadline, CAL, 30)
    assert creation_is_late(date(2026, 9, 15), CAL.add_working_days(deadline, 1), CAL, 30)
    assert deadline == date(2026, 11, 2)


def test_dissolution_is_due_fifteen_working_days_after_the_decision() -> None:
    assert dissolution_due_by(date(2026, 2, 13), CAL, 15) == CAL.add_working_days(
        date(2026, 2, 13), 15
    )


def test_documents_are_typed_by_their_first_bytes() -> None:
    assert sniff_content_type(b"%PDF-1.7") == "application/pdf"
    assert sniff_content_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_content_type(b"\x89PNG\r\n\x1a\n") == "image/png"
    assert sniff_content_type(b"GIF89a") is None
