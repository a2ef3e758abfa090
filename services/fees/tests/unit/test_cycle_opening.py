"""The month start opens on time."""

from __future__ import annotations


def test_the_cycle_is_due_from_five_past_midnight_on_the_first() -> None:
    from datetime import date, datetime

    from fees.worker import cycle_due
    from shared.calendar import BEIJING

    assert cycle_due(datetime(2027, 1, 1, 0, 4, tzinfo=BEIJING)) is None
    assert cycle_due(datetime(2027, 1, 1, 0, 5, tzinfo=BEIJING)) == date(2027, 1, 1)
    # Workers that were all down on the 1st open it when one is back.
    assert cycle_due(datetime(2027, 1, 9, 13, 0, tzinfo=BEIJING)) == date(2027, 1, 1)
