"""Idempotent consumers: the inbox row and the handler's effect commit together, or neither does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.bus import EventHandler
from shared.events import Envelope, Event
from shared.logging import get_logger

log = get_logger(__name__)

TransactionalHandler = Callable[[AsyncSession, Event, Envelope], Awaitable[None]]


def with_inbox(
    sessions: async_sessionmaker[AsyncSession], consumer: str, handler: TransactionalHandler
) -> EventHandler:
    """Wrap a handler so each event takes effect once per consumer, however often it arrives."""

    async def process(event: Event, envelope: Envelope) -> None:
        async with sessions() as session, session.begin():
            first_time = (
                await session.execute(
                    text(
                        "INSERT INTO inbox (event_id, consumer) VALUES (:id, :consumer) "
                        "ON CONFLICT DO NOTHING RETURNING event_id"
                    ),
                    {"id": envelope.id, "consumer": consumer},
                )
            ).first()
            if first_time is None:
                log.info("event_duplicate_skipped", event_id=str(envelope.id), consumer=consumer)
                return
            await handler(session, event, envelope)

    return process
