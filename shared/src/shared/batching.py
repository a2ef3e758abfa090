"""Consuming many events in one transaction: deliveries that arrive together are gathered into a
batch that takes effect (inbox rows included) in one commit, and each message is acknowledged
only after its batch committed. For consumers whose events come in floods (a 10,000-row import
makes 10,000 account.created), where one transaction per event is the bottleneck."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import Envelope, Event
from shared.inbox import with_inbox
from shared.logging import get_logger

log = get_logger(__name__)
# The span limit's default: links past it would be dropped anyway.
MAX_LINKS = 128

BatchHandler = Callable[[AsyncSession, Sequence[tuple[Event, Envelope]]], Awaitable[None]]
_Pending = tuple[Event, Envelope, "asyncio.Future[None]", SpanContext]
tracer = trace.get_tracer("shared.batching")


class BatchingInbox:
    """An event handler (as `Subscription.handlers` takes) that commits in batches.

    A batch is flushed when it is full or `max_wait` after its first event. Should a batch fail,
    its events are tried one by one, each in its own transaction, so one bad event fails alone
    and goes through the usual retry and dead-letter path while its neighbours take effect.

    Batches commit one after another, in the order their events arrived: a later batch that
    overtook an earlier one would apply a member's transfer before the creation it moves, or an
    older change over a newer one. (Across processes, and for an event gone to its retry, order
    is not kept: the handlers' data decide what is newer, as shared.member_copy does.)

    Each batch is one consumer span, a child of its first event's publish span and linked to the
    other producers' (the bus makes no span per message for a handler that `traces_batches`).
    """

    traces_batches = True

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        consumer: str,
        handler: BatchHandler,
        *,
        max_size: int = 200,
        max_wait: float = 0.05,
        weight: Callable[[Event], int] | None = None,
    ) -> None:
        self.sessions = sessions
        self.consumer = consumer
        self.handler = handler
        # A batch is full at `max_size` events, or at `max_size` of what `weight` counts in
        # them (members, for events that carry a chunk of them).
        self.max_size = max_size
        self.max_wait = max_wait
        self._weight = weight or (lambda _: 1)
        self._pending: list[_Pending] = []
        self._pending_weight = 0
        self._timer: asyncio.Task[None] | None = None
        # Held by the batch committing; the next waits its turn (asyncio.Lock wakes in order).
        self._turn = asyncio.Lock()

        async def one(session: AsyncSession, event: Event, envelope: Envelope) -> None:
            await handler(session, [(event, envelope)])

        self._single = with_inbox(sessions, consumer, one)

    async def __call__(self, event: Event, envelope: Envelope) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        producer = trace.get_current_span().get_span_context()
        self._pending.append((event, envelope, done, producer))
        self._pending_weight += self._weight(event)
        if self._pending_weight >= self.max_size:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())
        await done

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.max_wait)
        self._timer = None
        self._flush()

    def _flush(self) -> None:
        batch, self._pending, self._pending_weight = self._pending, [], 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if batch:
            asyncio.create_task(self._commit(batch))  # noqa: RUF006 - the futures keep the outcome

    async def _commit(self, batch: list[_Pending]) -> None:
        async with self._turn:
            await self._commit_in_turn(batch)

    async def _commit_in_turn(self, batch: list[_Pending]) -> None:
        # One per producing span (SpanContext itself is not hashable: its trace state is a dict).
        producers = list({(p.trace_id, p.span_id): p for *_, p in batch if p.is_valid}.values())
        parent = trace.set_span_in_context(NonRecordingSpan(producers[0])) if producers else None
        with tracer.start_as_current_span(
            f"{self.consumer} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=[Link(p) for p in producers[1:MAX_LINKS]],
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.batch.message_count": len(batch),
            },
        ):
            await self._commit_traced(batch)

    async def _commit_traced(self, batch: list[_Pending]) -> None:
        try:
            async with self.sessions() as session, session.begin():
                fresh = await self._first_time(session, batch)
                if fresh:
                    await self.handler(session, fresh)
        except Exception as exc:
            log.warning(
                "batch_failed_trying_one_by_one",
                consumer=self.consumer,
                size=len(batch),
                error=type(exc).__name__,
            )
            for event, envelope, done, _ in batch:
                try:
                    await self._single(event, envelope)
                except Exception as single_exc:
                    _settle(done, single_exc)
                else:
                    _settle(done, None)
            return
        for _, _, done, _ in batch:
            _settle(done, None)

    async def _first_time(
        self, session: AsyncSession, batch: list[_Pending]
    ) -> list[tuple[Event, Envelope]]:
        """Record the batch in the inbox; the events not seen before, each once."""
        rows = await session.execute(
            text(
                "INSERT INTO inbox (event_id, consumer) "
                "SELECT unnest(CAST(:ids AS uuid[])), :consumer "
                "ON CONFLICT DO NOTHING RETURNING event_id"
            ),
            {"ids": [envelope.id for _, envelope, _, _ in batch], "consumer": self.consumer},
        )
        new = {r.event_id for r in rows}
        fresh: list[tuple[Event, Envelope]] = []
        for event, envelope, _, _ in batch:
            if envelope.id in new:
                new.discard(envelope.id)  # a duplicate inside the batch takes effect once
                fresh.append((event, envelope))
        if len(fresh) < len(batch):
            log.info(
                "event_duplicates_skipped", consumer=self.consumer, count=len(batch) - len(fresh)
            )
        return fresh


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the delivery was cancelled meanwhile (shutdown): the broker redelivers it
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
