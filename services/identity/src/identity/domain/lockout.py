"""Lockout: five failed log-ins within fifteen minutes lock the account until the window moves on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def locked_until(failures: Sequence[datetime], now: datetime) -> datetime | None:
    """When the lock ends, or None when the account is not locked.

    Locked while at least MAX_FAILURES failures lie in the last WINDOW; it ends when the oldest of
    the newest MAX_FAILURES leaves the window.
    """
    recent = sorted(f for f in failures if now - f < WINDOW)
    if len(recent) < MAX_FAILURES:
        return None
    return recent[-MAX_FAILURES] + WINDOW
