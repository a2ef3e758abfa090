"""Operator view of dead letters: list what waits in a queue's DLQ and replay it into the queue."""

from __future__ import annotations

from typing import Any

from shared.bus import ERROR_HEADER, RETRY_HEADER, Bus, copy_message, dead_letter_queue


def _death_reason(headers: dict[str, Any]) -> str | None:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return str(deaths[0].get("reason"))
    return None


async def list_dead_letters(bus: Bus, queue: str, limit: int = 100) -> list[dict[str, Any]]:
    """Peek at up to `limit` dead letters; they stay in the DLQ."""
    channel = await bus.connection.channel()
    try:
        dlq = await channel.get_queue(dead_letter_queue(queue), ensure=True)
        held = []
        items = []
        for _ in range(limit):
            message = await dlq.get(no_ack=False, fail=False)
            if message is None:
                break
            held.append(message)
            headers = dict(message.headers or {})
            items.append(
                {
                    "message_id": message.message_id,
                    "type": message.type,
                    "reason": _death_reason(headers),
                    "retries": headers.get(RETRY_HEADER, 0),
                    "last_error": headers.get(ERROR_HEADER),
                }
            )
        for message in held:
            await message.nack(requeue=True)
        return items
    finally:
        await channel.close()


async def replay_dead_letters(bus: Bus, queue: str, limit: int = 10_000) -> int:
    """Move dead letters back into their queue with a fresh retry budget; returns how many.

    Only the letters waiting when the replay starts: one that fails again comes back to the DLQ
    meanwhile and must wait for the next fix, not be replayed in a loop.
    """
    channel = await bus.connection.channel()
    try:
        dlq = await channel.declare_queue(dead_letter_queue(queue), passive=True)
        waiting = dlq.declaration_result.message_count or 0
        moved = 0
        while moved < min(limit, waiting):
            message = await dlq.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = {
                k: v
                for k, v in (message.headers or {}).items()
                if k not in (RETRY_HEADER, ERROR_HEADER, "x-death", "x-delivery-count")
                and not k.startswith("x-first-death")
                and not k.startswith("x-last-death")
            }
            # Confirmed publish first, then ack: a crash in between doubles, the inbox absorbs it.
            await bus.publish_to_queue(queue, copy_message(message, headers))
            await message.ack()
            moved += 1
        return moved
    finally:
        await channel.close()
