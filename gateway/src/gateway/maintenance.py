"""Read-only maintenance windows (维护期间仅可查看): during one the gateway answers every write
with 503 `system.maintenance` and `Retry-After` until its end, while reads go on.

The windows come from the activities service's `announcement.*` events and, at start and every
minute, its list of current windows; the gateway applies them by their times on its own clock,
so it keeps doing so while the activities service is away.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.problems import Problem

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Writes a window lets through: signing in (to read), and ending an announcement early (a
# window set by mistake must not lock out the one who can end it).
ALWAYS_WRITABLE = ("/auth/login",)
WRITABLE_PREFIXES = ("/announcements/",)


@dataclass(frozen=True)
class Window:
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class MaintenanceWindows:
    """Windows by id. Like FrozenAccounts, an event seen while a snapshot is fetched wins over
    the snapshot for the window it touched."""

    def __init__(self) -> None:
        self._windows: dict[uuid.UUID, Window] = {}
        self._withdrawn: set[uuid.UUID] = set()
        self._touched: set[uuid.UUID] | None = None

    def __len__(self) -> int:
        return len(self._windows)

    def add(self, window: Window) -> None:
        if window.id not in self._withdrawn:
            self._windows[window.id] = window
        self._mark(window.id)

    def withdraw(self, window_id: uuid.UUID) -> None:
        # Remembered: a withdrawal may overtake its publication (redelivery, a snapshot).
        self._withdrawn.add(window_id)
        self._windows.pop(window_id, None)
        self._mark(window_id)

    def _mark(self, window_id: uuid.UUID) -> None:
        if self._touched is not None:
            self._touched.add(window_id)

    def begin_snapshot(self) -> None:
        self._touched = set()

    def abandon_snapshot(self) -> None:
        self._touched = None

    def finish_snapshot(self, windows: Iterable[Window]) -> None:
        touched = self._touched or set()
        self._touched = None
        kept = {i: w for i, w in self._windows.items() if i in touched}
        fresh = {w.id: w for w in windows if w.id not in touched and w.id not in self._withdrawn}
        self._windows = kept | fresh

    def open_at(self, now: datetime) -> Window | None:
        """The window in force at `now` that ends last, if any."""
        current = [w for w in self._windows.values() if w.starts_at <= now < w.ends_at]
        return max(current, key=lambda w: w.ends_at) if current else None


def check_writable(windows: MaintenanceWindows, method: str, path: str) -> None:
    """503 `system.maintenance` for a write during a read-only window."""
    if method not in WRITES or path in ALWAYS_WRITABLE or path.startswith(WRITABLE_PREFIXES):
        return
    now = datetime.now(UTC)
    window = windows.open_at(now)
    if window is None:
        return
    retry_after = max(1, math.ceil((window.ends_at - now).total_seconds()))
    raise Problem(
        503,
        "system.maintenance",
        "The system is under maintenance and read-only until "
        f"{window.ends_at.isoformat()}; reading works meanwhile.",
        headers={"Retry-After": str(retry_after)},
        until=window.ends_at.isoformat(),
    )
