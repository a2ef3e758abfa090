"""Transactional outbox: events written with the state change, published by a separate relay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import NamedTuple

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.bus import EVENTS_EXCHANGE, Bus, Outgoing
from shared.db import driver_transaction
from shared.events import Event
from shared.logging import get_logger
from shared.telemetry import extract_context, inject_context

NOTIFY_CHANNEL = "outbox"
# The relay's wake-up, for a statement that writes its events itself (`event_insert_from`).
NOTIFY_RELAY = f"pg_notify('{NOTIFY_CHANNEL}', '')"
log = get_logger(__name__)
tracer = trace.get_tracer("shared.outbox")


class RelayWakeups:
    """A writer at a peak wakes the relay at most once in `window_seconds` (per process).

    A notification cost more than the event it announced: one NOTIFY a transaction cost the
    writing backend ~70 µs, the relay's listening backend ~48 µs and the relay ~35 µs, and
    commits that notify take turns on PostgreSQL's notification queue (4,500 small inserts a
    second fell to 2,700; bench/notify_cost.py, 2026-12-07). An event written within the window of a
    notification is committed before the round that notification starts (the relay waits
    `linger_seconds`, 20 ms, before it claims) unless its statement took longer than the rest
    of that wait; then the next round takes it: in a peak the relay arms its own rounds
    (`OutboxRelay`), and out of one the next notification or the poll (`poll_seconds`) does.
    Late by at most that, never lost.

    The window is taken when a write is told to notify, not when its statement returns: the
    writes that start while it runs must not notify too. They did, and notifying commits hold
    the notification queue's lock through their WAL flush, so they commit one by one: when one
    commit's flush stalled for 60 ms (the disk), the payments queued behind that lock (16 at
    once seen in pg_stat_activity, wait event `Lock/object`) each waited for the one before.
    A write told to notify that ends up not notifying (it wrote nothing, or failed) gives the
    window back (`missed`), so that the next write notifies in its place.
    """

    def __init__(self, window_seconds: float = 0.01) -> None:
        self.window_seconds = window_seconds
        self._last = -window_seconds

    def take(self) -> float | None:
        """Whether the next write should notify the relay: when it should, the window from now
        is the write's (the time it was taken, for `missed`), else None."""
        now = time.monotonic()
        if now - self._last < self.window_seconds:
            return None
        self._last = now
        return now

    def missed(self, taken: float) -> None:
        """The write that took the window at `taken` did not notify: the next write may, unless
        another has taken a later window meanwhile."""
        if self._last == taken:
            self._last = taken - self.window_seconds

    @contextlib.contextmanager
    def turn(self) -> Iterator[Wakeup]:
        """One write's turn: `due` says whether it should notify; unless it says `notified()`
        before the block ends (it wrote nothing, or failed), the window goes to the next write."""
        taken = self.take()
        wakeup = Wakeup(due=taken is not None)
        try:
            yield wakeup
        finally:
            if taken is not None and not wakeup.done:
                self.missed(taken)


class Wakeup:
    """A write's turn at waking the relay (`RelayWakeups.turn`)."""

    def __init__(self, due: bool) -> None:
        self.due = due
        self.done = False

    def notified(self) -> None:
        """The write's statement notified (it is delivered at commit)."""
        self.done = True


async def record_event(
    session: AsyncSession, event: Event, producer: str, wakeups: RelayWakeups | None = None
) -> str:
    """Add an event to the outbox inside the caller's transaction; returns the event id.

    The current trace context is stored with the row so the relay's publish continues this trace.
    """
    return (await record_events(session, [event], producer, wakeups))[0]


async def record_events(
    session: AsyncSession,
    events: Sequence[Event],
    producer: str,
    wakeups: RelayWakeups | None = None,
) -> list[str]:
    """Add many events in one statement (a batch import writes thousands). The relay is
    notified every time, or at most once a window of `wakeups` (a peak's writer: a transaction
    that rolls back after it keeps its window, and the events of that window go in the relay's
    next round or poll)."""
    if not events:
        return []
    envelopes = [event.envelope(producer) for event in events]
    trace_context = json.dumps(inject_context())
    turn = wakeups.turn() if wakeups is not None else contextlib.nullcontext(Wakeup(due=True))
    # The relay is notified in the same statement (one round trip less on every write that
    # produces an event); PostgreSQL delivers it at commit, never for a rolled-back transaction.
    with turn as wakeup:
        await session.execute(
            text(
                "WITH written AS (INSERT INTO outbox (id, type, version, envelope, trace_context) "  # noqa: S608
                "SELECT id, type, version, envelope::jsonb, CAST(:trace AS jsonb) "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[]), "
                "CAST(:versions AS int[]), CAST(:envelopes AS text[])) "
                "AS e(id, type, version, envelope)) "
                f"SELECT CASE WHEN CAST(:notify AS boolean) THEN {NOTIFY_RELAY} END"
            ),
            {
                "ids": [e.id for e in envelopes],
                "types": [e.type for e in envelopes],
                "versions": [e.version for e in envelopes],
                "envelopes": [e.model_dump_json() for e in envelopes],
                "trace": trace_context,
                "notify": wakeup.due,
            },
        )
        wakeup.notified()
    return [str(e.id) for e in envelopes]


def event_insert_from(source: str, data: str) -> str:
    """SQL that writes one event into the outbox for each row of `source` (a CTE of the same
    statement, so none when it has none): for a write that is whole in one statement (a cash
    payment), so that its event is written with it or not at all. The event's data is `data`,
    SQL that builds it from that row as a JSON object (the statement learns the fields as it
    writes them); the rest of the envelope, and the trace context, are the parameters
    `event_values` gives. The statement notifies the relay itself (`NOTIFY_RELAY`)."""
    return (
        "INSERT INTO outbox (id, type, version, envelope, trace_context) "  # noqa: S608 (constants and a CTE's name)
        "SELECT CAST(:event_id AS uuid), CAST(:event_type AS text), CAST(:event_version AS int), "
        f"jsonb_set(CAST(:event_envelope AS jsonb), '{{data}}', {data}), "
        f"CAST(:event_trace AS jsonb) FROM {source}"
    )


def event_values(
    event_type: type[Event], producer: str, trace_context: str | None = None
) -> dict[str, object]:
    """The parameters of `event_insert_from`: an envelope of `event_type` without its data, and
    the trace context (the current one as JSON, unless the caller has it already)."""
    envelope = event_type.envelope_of(producer, {})
    return {
        "event_id": envelope.id,
        "event_type": envelope.type,
        "event_version": envelope.version,
        "event_envelope": envelope.model_dump_json(),
        "event_trace": trace_context if trace_context is not None else json.dumps(inject_context()),
    }


class OutboxRelay:
    """Claims unsent rows with SKIP LOCKED (several relays may run), publishes a window of them and
    awaits all confirms, then marks them sent in the same transaction that holds the row locks.

    Two lanes do this at once, so that one claims and publishes the next batch while the other
    waits for the broker's confirms and its commit; SKIP LOCKED keeps their batches apart. The
    rounds run on the driver (shared.db.driver_transaction, on the service's pool): through the
    ORM layer a round of one or two events, the common case outside imports, cost about a
    millisecond of CPU more than its publishing. Rows
    written by one transaction share its trace context and get one publish span per run of the
    same event type, not one each: the trace still leads from the writing request to every
    consumer, and 10,000 spans for one import cost more than their publishing.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        listen_dsn: str,
        *,
        batch_size: int = 500,
        lanes: int = 2,
        poll_seconds: float = 2.0,
        linger_seconds: float = 0.02,
        busy_linger_seconds: float = 0.1,
        busy_round: int = 5,
        keep_sent: timedelta = timedelta(days=7),
        exit_after_publish: bool = False,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.listen_dsn = listen_dsn
        self.batch_size = batch_size
        self.lanes = lanes
        self.poll_seconds = poll_seconds
        self.linger_seconds = linger_seconds
        self.busy_linger_seconds = busy_linger_seconds
        self.busy_round = busy_round
        self._linger = linger_seconds  # the wait after a notification, by the last round's size
        self.keep_sent = keep_sent
        self.exit_after_publish = exit_after_publish
        # A wake-up for one lane: a notification (coalesced while one waits untaken) goes to
        # whichever lane takes it first, so a lone event costs one round, not one per lane.
        self._wake: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._lingering: asyncio.TimerHandle | None = None
        self._lost = asyncio.Event()  # the LISTEN connection went away

    async def run(self, stop: asyncio.Event) -> None:
        log.info("relay_started", lanes=self.lanes, batch_size=self.batch_size)
        listening = asyncio.create_task(self._keep_listening(stop))
        try:
            await asyncio.gather(*(self._lane(stop) for _ in range(self.lanes)))
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening

    async def _lane(self, stop: asyncio.Event) -> None:
        rounds = 0
        while not stop.is_set():
            # A commit notified while this lane publishes leaves a wake-up for the next wait.
            try:
                published = await self.relay_once()
                rounds += 1
                self._linger = self.linger_after(published)
                if rounds % 1000 == 0:
                    await self.purge_sent()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Broker or database away: rows stay unsent and are tried again.
                log.warning("relay_round_failed", error=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            if published == self.batch_size:
                # More may be waiting: another lane claims the next batch while this one's
                # confirms come back, and this one goes on without waiting.
                self._nudge()
            else:
                if published >= self.busy_round:
                    # A peak: the next round comes after the peak's wait, notified or not
                    # (writers notify at most every few milliseconds: RelayWakeups).
                    self._round_after_linger()
                await self._wait(stop)

    async def _keep_listening(self, stop: asyncio.Event) -> None:
        """Keeps the LISTEN connection open, opening it again as soon as it is lost."""
        listener: asyncpg.Connection | None = None
        try:
            while not stop.is_set():
                self._lost.clear()
                listener = await self._listening(listener)
                if listener is None:
                    await asyncio.sleep(1.0)
                else:
                    await _first_of(self._lost, stop, at_most=None)
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()

    async def _listening(self, listener: asyncpg.Connection | None) -> asyncpg.Connection | None:
        """The LISTEN connection, opened again after the database dropped it (until then the relay
        polls every `poll_seconds`, so nothing is lost, only later)."""
        if listener is not None and not listener.is_closed():
            return listener
        try:
            connection = await asyncpg.connect(self.listen_dsn)
            await connection.add_listener(NOTIFY_CHANNEL, lambda *_: self._notified())
            # A lost connection is opened again at once, and the lanes look for rows whose
            # notification was missed meanwhile.
            connection.add_termination_listener(lambda *_: self._listener_lost())
        except Exception as exc:
            log.warning("relay_listen_unavailable", error=type(exc).__name__)
            return None
        if listener is not None:
            log.info("relay_listening_again")
            self._nudge()
        return connection

    def _listener_lost(self) -> None:
        self._lost.set()
        self._nudge()

    def linger_after(self, published: int) -> float:
        """How long a lane waits after a notification, by what the last round carried: a few
        events, `linger_seconds`; `busy_round` or more (a peak: some 200 events a second at the
        short wait, and it lasts until they fall below 50), `busy_linger_seconds`."""
        return self.busy_linger_seconds if published >= self.busy_round else self.linger_seconds

    def _notified(self) -> None:
        """A commit wrote events: a lane wakes a moment later, so that the commits of those few
        milliseconds go in one round. A round has a fixed cost (a transaction of two statements, a
        log line, a wake-up: ~2 ms of CPU) that a lone event paid in full; at 300 cash payments a
        second that was more than the API's own share of a payment. Out of a peak the wait is
        short (20 ms): a client that creates an organisation and at once acts on it in another
        service must find it there. In a peak (the month start's payments) it is 100 ms, a fifth
        of the rounds: at 500-550 cash payments a second the relay's CPU a payment fell from
        0.33-0.40 ms to 0.20-0.26 ms (interleaved runs), for events 80 ms later."""
        self._round_after_linger()

    def _round_after_linger(self) -> None:
        if self._lingering is None:
            self._lingering = asyncio.get_running_loop().call_later(self._linger, self._lingered)

    def _lingered(self) -> None:
        self._lingering = None
        self._nudge()

    def _nudge(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # one is waiting to be taken already
            self._wake.put_nowait(None)

    async def _wait(self, stop: asyncio.Event) -> None:
        """Until a wake-up, a stop, or `poll_seconds` (rows whose notification was lost)."""
        woken = asyncio.create_task(self._wake.get())
        stopped = asyncio.create_task(stop.wait())
        _, pending = await asyncio.wait(
            (woken, stopped), timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()

    async def relay_once(self) -> int:
        async with driver_transaction(self.sessions) as connection:
            rows = [
                Unsent(r["id"], r["type"], r["body"], r["trace_context"])
                for r in await connection.fetch(CLAIM, self.batch_size)
            ]
            if not rows:
                return 0
            await self._publish(rows)
            if self.exit_after_publish:
                # Fault injection: die after the broker has the events but before they are marked.
                log.warning("relay_fault_exit_after_publish", count=len(rows))
                os._exit(17)
            await connection.execute(MARK_SENT, [r.id for r in rows])
        log.info("relay_published", count=len(rows))
        return len(rows)

    async def _publish(self, rows: Sequence[Unsent]) -> None:
        """One publish span for rows of one type written under one trace context, each span the
        parent of its events' consumers; then every row of the round in one write to the broker
        (persistent, mandatory, confirmed), and the spans end when the last confirm is in. Cash
        payments each have a trace of their own: a span and a write each cost more than the
        event's share of the round."""
        spans: list[Span] = []
        outgoing: list[Outgoing] = []
        for run in runs_of(rows):
            first = run[0]
            span = tracer.start_span(
                f"{first.type} publish",
                context=extract_context(json.loads(first.trace_context)),
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.destination.name": EVENTS_EXCHANGE,
                    "messaging.rabbitmq.destination.routing_key": first.type,
                    "messaging.batch.message_count": len(run),
                    "messaging.message.id": str(first.id),
                },
            )
            spans.append(span)
            headers = inject_context(trace.set_span_in_context(span))
            outgoing += [Outgoing(r.body.encode(), r.type, str(r.id), headers) for r in run]
        try:
            await self.bus.publish_events(outgoing)
        except BaseException as exc:
            for span in spans:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            for span in spans:
                span.end()

    async def purge_sent(self) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                text("DELETE FROM outbox WHERE sent_at < now() - CAST(:keep AS interval)"),
                {"keep": self.keep_sent},
            )


async def _first_of(*events: asyncio.Event, at_most: float | None) -> None:
    """Until one of the events is set, or `at_most` seconds have passed."""
    waits = [asyncio.create_task(event.wait()) for event in events]
    _, pending = await asyncio.wait(waits, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


class Unsent(NamedTuple):
    """An outbox row the relay claimed."""

    id: uuid.UUID
    type: str
    body: str  # the envelope, as JSON text
    trace_context: str  # as JSON text: decoded once per run, not per row


CLAIM = (
    "SELECT id, type, envelope::text AS body, trace_context::text AS trace_context FROM outbox "
    "WHERE sent_at IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED"
)
MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::uuid[])"


def runs_of(rows: Sequence[Unsent]) -> list[list[Unsent]]:
    """Consecutive rows with the same type and trace context, in their order."""
    runs: list[list[Unsent]] = []
    for row in rows:
        if runs and runs[-1][0].type == row.type and runs[-1][0].trace_context == row.trace_context:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


async def outbox_backlog(session: AsyncSession) -> tuple[int, float]:
    """Events not yet published, and how long the oldest has waited (seconds; 0 when none):
    a relay that is away shows as an age that grows, whatever the rate of writes."""
    row = (
        await session.execute(
            text(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                "FROM outbox WHERE sent_at IS NULL"
            )
        )
    ).one()
    return int(row[0]), float(row[1])
