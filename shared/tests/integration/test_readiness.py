"""Readiness (`/readyz`) asks whether the broker's port answers (asynchronously: the event
loop serves requests meanwhile)."""

from __future__ import annotations

import socket

from shared.app import broker_reachable


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_running_broker_is_reachable_and_a_closed_port_is_not() -> None:
    assert await broker_reachable("amqp://guest:guest@127.0.0.1:5672/")
    assert not await broker_reachable(f"amqp://guest:guest@127.0.0.1:{closed_port()}/")
