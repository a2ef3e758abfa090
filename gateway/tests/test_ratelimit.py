"""Rate limiting: a token bucket per account, or per client address when anonymous."""

from __future__ import annotations

import uuid

import pytest

from gateway.ratelimit import RateLimiter
from shared.problems import Problem


def test_burst_then_refusal_with_time_until_next_token() -> None:
    now = [100.0]
    limiter = RateLimiter(rate_per_second=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("a") is None


def test_buckets_are_separate_per_key() -> None:
    limiter = RateLimiter(rate_per_second=1.0, burst=1, clock=lambda: 0.0)
    assert limiter.take("a") is None
    assert limiter.take("a") is not None
    assert limiter.take("b") is None


def test_refusal_is_429_with_retry_after() -> None:
    limiter = RateLimiter(rate_per_second=0.1, burst=1, clock=lambda: 0.0)
    limiter.check("a")
    with pytest.raises(Problem) as raised:
        limiter.check("a")
    assert (raised.value.status, raised.value.code) == (429, "request.rate_limited")
    assert raised.value.headers["Retry-After"] == "10"


def test_idle_buckets_are_pruned_when_many() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_second=1.0, burst=1, clock=lambda: now[0])
    for i in range(10_001):
        limiter.take(str(i))
    now[0] += 5.0
    limiter.take("fresh")
    assert len(limiter._buckets) == 1


async def test_account_over_its_rate_gets_429_with_retry_after(running, keys) -> None:
    running.gateway.limiter = RateLimiter(rate_per_second=0.01, burst=2)
    account = str(uuid.uuid4())
    statuses = [
        (await running.client.get("/api/v1/me", headers=keys.auth(sub=account))).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = await running.client.get("/api/v1/me", headers=keys.auth(sub=account))
    assert refused.json()["code"] == "request.rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    other = await running.client.get("/api/v1/me", headers=keys.auth())
    assert other.status_code == 200


async def test_anonymous_callers_are_limited_by_address(running) -> None:
    running.gateway.limiter = RateLimiter(rate_per_second=0.01, burst=1)
    first = await running.client.post("/api/v1/auth/login", json={})
    second = await running.client.get("/api/v1/me")  # bad or missing tokens count too
    assert (first.status_code, second.status_code) == (200, 429)
