"""When an activity may be published, signed up for, and summarised (组织活动管理)."""

from __future__ import annotations

from datetime import datetime

# ~5,000 notifications a transaction: a city of 300,000 members is ~60 chunks, each a second or
# less of one INSERT … SELECT, each redone whole (and only it) after a crash.
FANOUT_CHUNK_MEMBERS = 5_000


class Refused(Exception):
    """A rule said no: the HTTP status and stable code to answer with."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


def check_new(
    *,
    starts_at: datetime,
    ends_at: datetime,
    signup_deadline: datetime | None,
    now: datetime,
) -> None:
    """A new activity is over a real span of time, not over already, and its sign-up closes by
    its start."""
    if ends_at <= starts_at:
        raise Refused(422, "activity.ends_before_start", "The end is not after the start.")
    if ends_at <= now:
        raise Refused(
            422, "activity.already_over", "The activity is over already; nothing to publish."
        )
    if signup_deadline is not None and signup_deadline > starts_at:
        raise Refused(
            422,
            "activity.deadline_after_start",
            "Sign-up closes at the latest when the activity starts.",
        )


def signups_close_at(starts_at: datetime, signup_deadline: datetime | None) -> datetime:
    """The deadline if one was set, else the start."""
    return signup_deadline if signup_deadline is not None else starts_at


def check_signup_open(now: datetime, starts_at: datetime, signup_deadline: datetime | None) -> None:
    if now >= signups_close_at(starts_at, signup_deadline):
        raise Refused(409, "activity.closed", "Sign-up for this activity has closed.")


def check_summary_allowed(now: datetime, ends_at: datetime) -> None:
    """A summary says what happened: written once the activity has ended."""
    if now < ends_at:
        raise Refused(
            409, "activity.not_over", "The summary is written after the activity has ended."
        )


def check_cancel_allowed(now: datetime, starts_at: datetime) -> None:
    """A member may take back a sign-up until the activity starts."""
    if now >= starts_at:
        raise Refused(409, "activity.closed", "The activity has started; the sign-up stands.")
