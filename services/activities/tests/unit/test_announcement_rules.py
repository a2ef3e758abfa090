"""What an announcement may be, and the words its notices carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.domain.activity import Refused
from activities.domain.announcement import check_new, notice_text

NOW = datetime(2027, 1, 8, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
HOUR = timedelta(hours=1)


def code(**fields: object) -> str:
    values: dict[str, object] = {
        "kind": "maintenance",
        "starts_at": NOW + HOUR,
        "ends_at": NOW + 2 * HOUR,
        "read_only": True,
        "now": NOW,
        "by_root": True,
        **fields,
    }
    with pytest.raises(Refused) as refusal:
        check_new(**values)  # type: ignore[arg-type]
    return refusal.value.code


def test_a_read_only_window_is_a_short_maintenance_window_of_the_province() -> None:
    check_new(
        kind="maintenance",
        starts_at=NOW,
        ends_at=NOW + 12 * HOUR,
        read_only=True,
        now=NOW,
        by_root=True,
    )
    assert code(by_root=False) == "announcement.read_only_root_only"
    assert code(kind="notice") == "announcement.read_only_needs_maintenance"
    assert code(ends_at=NOW + 13 * HOUR + HOUR) == "announcement.window_too_long"
    assert code(ends_at=NOW + HOUR) == "announcement.ends_before_start"
    assert code(starts_at=NOW - 2 * HOUR, ends_at=NOW) == "announcement.already_over"


def test_maintenance_notices_say_when_in_beijing_time_and_whether_writes_stop() -> None:
    title, body = notice_text("maintenance", "系统升级", "请提前办理。", NOW, NOW + HOUR, True)
    assert title == "系统维护通知：系统升级"
    assert body == "请提前办理。\n维护时间：1月8日10:00至1月8日11:00（维护期间仅可查看）"
    assert notice_text("notice", "通知", "正文", NOW, NOW + HOUR, False) == (
        "系统公告：通知",
        "正文",
    )
