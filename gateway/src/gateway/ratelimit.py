"""Token buckets per caller (account id, or client address when anonymous)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from shared.problems import Problem

# Above this many buckets, the full (idle) ones are dropped: they behave exactly like new ones.
PRUNE_ABOVE = 10_000


class RateLimiter:
    def __init__(
        self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate_per_second
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)
        self._pruned_at = -math.inf

    def take(self, key: str) -> float | None:
        """Spend one token; when none is left, the seconds until one will be."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else math.inf
        self._buckets[key] = (tokens - 1.0, now)
        # At most once a second: with many busy callers a prune frees little and costs a scan.
        if len(self._buckets) > PRUNE_ABOVE and now - self._pruned_at >= 1.0:
            self._prune(now)
        return None

    def check(self, key: str) -> None:
        wait = self.take(key)
        if wait is not None:
            retry_after = str(max(1, math.ceil(min(wait, 3600.0))))
            raise Problem(
                429,
                "request.rate_limited",
                "Too many requests; slow down.",
                headers={"Retry-After": retry_after},
            )

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        self._buckets = {
            key: (tokens, at)
            for key, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate < self.burst
        }
