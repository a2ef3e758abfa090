"""Announcements and maintenance windows (系统公告, 系统维护通知): what may be published, and
the words the notices carry."""

from __future__ import annotations

from datetime import datetime, timedelta

from activities.domain.activity import Refused
from shared.calendar import BEIJING

# A read-only window locks every write in the province: a typo in its end must not lock it for
# a week. Longer maintenance is announced as several windows.
LONGEST_READ_ONLY = timedelta(hours=12)


def check_new(
    *,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    read_only: bool,
    now: datetime,
    by_root: bool,
) -> None:
    if ends_at <= starts_at:
        raise Refused(422, "announcement.ends_before_start", "The end is not after the start.")
    if ends_at <= now:
        raise Refused(422, "announcement.already_over", "The announcement is over already.")
    if read_only and kind != "maintenance":
        raise Refused(
            422,
            "announcement.read_only_needs_maintenance",
            "Only a maintenance window makes the system read-only.",
        )
    if read_only and not by_root:
        raise Refused(
            403,
            "announcement.read_only_root_only",
            "A read-only window stops writes for the whole province: only the province's "
            "committee sets one.",
        )
    if read_only and ends_at - starts_at > LONGEST_READ_ONLY:
        raise Refused(
            422,
            "announcement.window_too_long",
            f"A read-only window lasts at most {LONGEST_READ_ONLY.seconds // 3600} hours.",
        )


def _clock(at: datetime) -> str:
    local = at.astimezone(BEIJING)
    return f"{local.month}月{local.day}日{local.hour:02d}:{local.minute:02d}"


def notice_text(
    kind: str, title: str, body: str, starts_at: datetime, ends_at: datetime, read_only: bool
) -> tuple[str, str]:
    """The notification's title and body (times in Beijing time, as people read them)."""
    if kind == "notice":
        return f"系统公告：{title}", body
    window = f"维护时间：{_clock(starts_at)}至{_clock(ends_at)}"
    if read_only:
        window += "（维护期间仅可查看）"
    return f"系统维护通知：{title}", f"{body}\n{window}"
