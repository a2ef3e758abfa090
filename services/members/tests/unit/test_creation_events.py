"""How new members are announced: one event for a member entered alone, chunks for an import."""

from __future__ import annotations

import uuid
from datetime import date

from members.service.records import creation_events
from shared.events import (
    IMPORT_CHUNK,
    MemberCreated,
    MembersImported,
    members_created_in,
    new_members_in,
)


def rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": uuid.uuid4(),
            "member_no": f"2026{i:08d}",
            "name": "张三",
            "joined_on": date(2020, 5, 4),
            "phone": "13800138000",
        }
        for i in range(n)
    ]


def test_a_member_entered_alone_is_one_member_created() -> None:
    branch = uuid.uuid4()
    [event] = creation_events(branch, rows(1), imported=False)
    assert isinstance(event, MemberCreated) and event.branch_id == branch


def test_an_import_is_announced_in_chunks_that_cover_every_member_once() -> None:
    branch = uuid.uuid4()
    written = rows(2 * IMPORT_CHUNK + 7)
    events = creation_events(branch, written, imported=True)
    assert [len(e.members) for e in events if isinstance(e, MembersImported)] == [
        IMPORT_CHUNK,
        IMPORT_CHUNK,
        7,
    ]
    created = members_created_in(events)
    assert [c.member_id for c in created] == [r["id"] for r in written]
    assert all(c.branch_id == branch for c in created)
    assert sum(new_members_in(e) for e in events) == len(written)


def test_no_personal_data_travels_in_an_import_event() -> None:
    [event] = creation_events(uuid.uuid4(), rows(3), imported=True)
    assert "13800138000" not in event.envelope("members").model_dump_json()
