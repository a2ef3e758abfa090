"""Read-only maintenance windows: writes answer 503 `system.maintenance` with `Retry-After`
while one is open, reads and sign-in go on, and a withdrawal or the window's end lifts it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from gateway.maintenance import MaintenanceWindows, Window
from shared.events import AnnouncementPublished, AnnouncementWithdrawn


def _window(**fields: object) -> AnnouncementPublished:
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "announcement_id": uuid.uuid4(),
        "org_id": uuid.uuid4(),
        "kind": "maintenance",
        "starts_at": now - timedelta(minutes=1),
        "ends_at": now + timedelta(minutes=10),
        "read_only": True,
        **fields,
    }
    return AnnouncementPublished(**values)  # type: ignore[arg-type]


async def _deliver(running, event) -> None:  # type: ignore[no-untyped-def]
    from gateway.handlers import state_handlers

    feed = running.gateway.feed
    await state_handlers(feed.tree, feed.frozen, feed.windows)[event.type](
        event, event.envelope("activities")
    )


async def test_a_read_only_window_refuses_writes_and_lets_reads_and_sign_in_through(
    running, keys, tree
) -> None:
    window = _window()
    await _deliver(running, window)
    admin = keys.admin_of(tree.city)
    write = await running.client.patch(f"/api/v1/orgs/{tree.city.id}", json={}, headers=admin)
    assert write.status_code == 503 and write.json()["code"] == "system.maintenance"
    assert 590 <= int(write.headers["Retry-After"]) <= 600
    assert write.json()["until"] == window.ends_at.isoformat()
    read = await running.client.get(f"/api/v1/orgs/{tree.city.id}", headers=admin)
    assert read.status_code == 200
    login = await running.client.post("/api/v1/auth/login", json={})
    assert login.status_code == 200
    # The one who set it by mistake can still end it early.
    withdraw = await running.client.post(
        f"/api/v1/announcements/{window.announcement_id}/withdraw", headers=admin
    )
    assert withdraw.status_code == 200

    await _deliver(running, AnnouncementWithdrawn(announcement_id=window.announcement_id))
    again = await running.client.patch(f"/api/v1/orgs/{tree.city.id}", json={}, headers=admin)
    assert again.status_code == 200


async def test_notices_and_windows_ahead_or_past_leave_writes_alone(running, keys, tree) -> None:
    now = datetime.now(UTC)
    await _deliver(running, _window(read_only=False))
    await _deliver(running, _window(kind="notice", read_only=False))
    await _deliver(
        running, _window(starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2))
    )
    await _deliver(
        running, _window(starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1))
    )
    write = await running.client.patch(
        f"/api/v1/orgs/{tree.city.id}", json={}, headers=keys.admin_of(tree.city)
    )
    assert write.status_code == 200


async def test_the_windows_are_loaded_at_start_from_the_activities_service(
    running, keys, tree, world
) -> None:
    now = datetime.now(UTC)
    world.windows.append(
        {
            "id": str(uuid.uuid4()),
            "starts_at": (now - timedelta(seconds=5)).isoformat(),
            "ends_at": (now + timedelta(minutes=5)).isoformat(),
        }
    )
    await running.gateway.feed.load_windows()
    write = await running.client.patch(
        f"/api/v1/orgs/{tree.city.id}", json={}, headers=keys.admin_of(tree.city)
    )
    assert write.status_code == 503


def test_a_withdrawal_that_overtakes_its_window_still_wins() -> None:
    windows = MaintenanceWindows()
    now = datetime.now(UTC)
    w = Window(uuid.uuid4(), now - timedelta(minutes=1), now + timedelta(minutes=1))
    windows.withdraw(w.id)
    windows.add(w)
    assert windows.open_at(now) is None
    # A snapshot taken before the withdrawal does not bring it back either.
    windows.begin_snapshot()
    windows.finish_snapshot([w])
    assert windows.open_at(now) is None
