"""Outbox, relay, bus, inbox and dead letters on the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.bus import UNROUTED_EXCHANGE, Bus, LatestOnly, Outgoing, Subscription
from shared.db import asyncpg_dsn
from shared.deadletters import list_dead_letters, replay_dead_letters
from shared.events import Envelope, Event, OrgCreated
from shared.inbox import with_inbox
from shared.outbox import OutboxRelay, record_event, record_events
from shared.settings import PlatformSettings
from shared.testing import eventually, org_created


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
async def bus(platform: PlatformSettings) -> AsyncIterator[Bus]:
    bus = Bus(platform, "test")
    await bus.connect()
    yield bus
    await bus.close()


@pytest.fixture
async def relay(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, platform: PlatformSettings
) -> OutboxRelay:
    # Earlier tests may have left events behind; publish them now so each test sees only its own.
    relay = OutboxRelay(
        sessions, bus, asyncpg_dsn(str(sessions.kw["bind"].url.render_as_string(False)))
    )
    while await relay.relay_once():
        pass
    return relay


async def effects(sessions: async_sessionmaker[AsyncSession], consumer: str) -> list[str]:
    async with sessions() as s:
        rows = await s.execute(
            text("SELECT note FROM effects WHERE consumer = :c"), {"c": consumer}
        )
        return [r.note for r in rows]


def recording_handler(consumer: str, fail_times: dict[str, int] | None = None):  # type: ignore[no-untyped-def]
    """A handler whose effect is one row in `effects`; it fails while fail_times["left"] > 0."""

    async def handle(session: AsyncSession, event: Event, envelope: Envelope) -> None:
        if fail_times is not None and fail_times["left"] > 0:
            fail_times["left"] -= 1
            raise RuntimeError("downstream not ready")
        assert isinstance(event, OrgCreated)
        await session.execute(
            text("INSERT INTO effects (event_id, consumer, note) VALUES (:id, :c, :note)"),
            {"id": envelope.id, "c": consumer, "note": event.name},
        )

    return handle


async def test_event_of_a_rolled_back_transaction_is_never_published(
    sessions: async_sessionmaker[AsyncSession], relay: OutboxRelay
) -> None:
    async with sessions() as session:
        await session.begin()
        await record_event(session, org_created(), "test")
        await session.rollback()
    assert await relay.relay_once() == 0


async def test_relay_publishes_confirmed_and_marks_the_row_sent(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, relay: OutboxRelay
) -> None:
    queue_name = f"q.{uuid.uuid4().hex[:8]}"
    queue = await bus.declare(
        Subscription(queue_name, {"org.created": recording_handler(queue_name)})
    )
    async with sessions() as session, session.begin():
        event_id = await record_event(session, org_created("东城区团委"), "test")
    assert await relay.relay_once() == 1
    message = await eventually(lambda: queue.get(no_ack=True, fail=False))
    assert isinstance(message, aio_pika.abc.AbstractIncomingMessage)
    envelope = Envelope.model_validate_json(message.body)
    assert (str(envelope.id), envelope.type, envelope.data["name"]) == (
        event_id,
        "org.created",
        "东城区团委",
    )
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    async with sessions() as session:
        sent_at = (
            await session.execute(
                text("SELECT sent_at FROM outbox WHERE id = :id"), {"id": uuid.UUID(event_id)}
            )
        ).scalar_one()
    assert sent_at is not None


async def test_a_flood_nobody_consumes_keeps_only_its_latest_and_never_reaches_unrouted(
    bus: Bus,
) -> None:
    """fee.paid's case: millions a month start, no consumer. Kept in league.unrouted they would
    stay a week; bound to a LatestOnly queue, the broker keeps the latest few."""
    flood = f"test.flood-{uuid.uuid4().hex[:8]}"
    latest = LatestOnly(f"test.latest-{uuid.uuid4().hex[:8]}", (flood,), keep=3)
    queue = await bus.declare_latest_only(latest)
    await bus.declare_latest_only(latest)  # the topology runs again at every release

    async def unrouted() -> int:
        declared = await bus.publish_channel.declare_queue(UNROUTED_EXCHANGE, passive=True)
        return int(declared.declaration_result.message_count or 0)

    before = await unrouted()
    ids = [str(uuid.uuid4()) for _ in range(5)]
    await bus.publish_events([Outgoing(b"{}", flood, id_, {}) for id_ in ids])
    kept = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        kept.append(message.message_id)
    assert kept == ids[-3:]  # the latest, in order; the two oldest dropped
    assert await unrouted() == before
    await queue.delete(if_unused=False, if_empty=False)


async def test_a_relay_round_of_many_events_reaches_a_consumer_each_once(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, relay: OutboxRelay
) -> None:
    """A round goes to the broker in one write (shared.bus.publish_events): every event arrives,
    once, persistent; the channel then has
    nothing left waiting for a confirm, and a lone event after it is confirmed as usual."""
    queue_name = f"q.{uuid.uuid4().hex[:8]}"
    queue = await bus.declare(
        Subscription(queue_name, {"org.created": recording_handler(queue_name)})
    )
    names = [f"团委{i:03}" for i in range(300)]
    async with sessions() as session, session.begin():
        written = await record_events(session, [org_created(n) for n in names], "test")
    async with sessions() as session, session.begin():
        lone = await record_event(session, org_created("最后一个"), "test")
    assert await relay.relay_once() == 301

    received: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def all_received() -> bool:
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            received.append(message)
        return len(received) >= 301

    assert await eventually(all_received)
    assert sorted(m.message_id for m in received) == sorted([*written, lone])
    assert sorted(Envelope.model_validate_json(m.body).data["name"] for m in received) == sorted(
        [*names, "最后一个"]
    )
    assert {m.delivery_mode for m in received} == {aio_pika.DeliveryMode.PERSISTENT}
    channel = await bus.publish_channel.get_underlay_channel()
    assert (channel.confirmations, channel.message_id_delivery_tag) == ({}, {})  # type: ignore[attr-defined]


async def test_a_publish_that_fails_before_it_is_sent_leaves_the_channel_as_it_was(
    bus: Bus,
) -> None:
    """Had its delivery tags stayed taken, every later confirm would settle the wrong message."""
    queue_name = f"q.{uuid.uuid4().hex[:8]}"
    queue = await bus.declare(
        Subscription(queue_name, {"org.created": recording_handler(queue_name)})
    )
    body = org_created().envelope("test").model_dump_json().encode()
    unsendable = [
        Outgoing(body, "org.created", f"bad-{i}", {"traceparent": object()}) for i in range(3)
    ]
    with pytest.raises(TypeError):  # pamqp cannot encode the header: nothing is sent
        await bus.publish_events(unsendable)
    channel = await bus.publish_channel.get_underlay_channel()
    assert (channel.confirmations, channel.message_id_delivery_tag) == ({}, {})  # type: ignore[attr-defined]

    await bus.publish_events([Outgoing(body, "org.created", "good-1", {})])
    message = await eventually(lambda: queue.get(no_ack=True, fail=False))
    assert isinstance(message, aio_pika.abc.AbstractIncomingMessage)
    assert message.message_id == "good-1"
    assert await queue.get(no_ack=True, fail=False) is None


async def test_an_event_delivered_twice_takes_effect_once(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, relay: OutboxRelay
) -> None:
    consumer = f"c.{uuid.uuid4().hex[:8]}"
    inner = with_inbox(sessions, consumer, recording_handler(consumer))
    deliveries: list[uuid.UUID] = []

    async def counted(event: Event, envelope: Envelope) -> None:
        await inner(event, envelope)
        deliveries.append(envelope.id)

    await bus.consume(Subscription(consumer, {"org.created": counted}))
    async with sessions() as session, session.begin():
        event_id = await record_event(session, org_created("西城区团委"), "test")
    assert await relay.relay_once() == 1
    # As if the relay died after publishing and before marking: the row is published again.
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE outbox SET sent_at = NULL WHERE id = :id"), {"id": uuid.UUID(event_id)}
        )
    assert await relay.relay_once() == 1
    await eventually(lambda: len(deliveries) == 2)
    assert deliveries == [uuid.UUID(event_id)] * 2
    assert await effects(sessions, consumer) == ["西城区团委"]


async def test_a_transient_failure_is_retried_until_it_succeeds(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, relay: OutboxRelay
) -> None:
    consumer = f"c.{uuid.uuid4().hex[:8]}"
    failures = {"left": 2}
    await bus.consume(
        Subscription(
            consumer,
            {"org.created": with_inbox(sessions, consumer, recording_handler(consumer, failures))},
        )
    )
    async with sessions() as session, session.begin():
        await record_event(session, org_created("朝阳区团委"), "test")
    await relay.relay_once()
    assert await eventually(lambda: effects(sessions, consumer)) == ["朝阳区团委"]
    assert failures["left"] == 0
    assert await list_dead_letters(bus, consumer) == []


async def test_a_poison_message_waits_in_the_dlq_and_replays_after_the_fix(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, relay: OutboxRelay
) -> None:
    consumer = f"c.{uuid.uuid4().hex[:8]}"
    broken = {"left": 10**6}  # fails every time, until "fixed"
    await bus.consume(
        Subscription(
            consumer,
            {"org.created": with_inbox(sessions, consumer, recording_handler(consumer, broken))},
        )
    )
    async with sessions() as session, session.begin():
        event_id = await record_event(session, org_created("海淀区团委"), "test")
    await relay.relay_once()
    dead = await eventually(lambda: list_dead_letters(bus, consumer))
    assert isinstance(dead, list)
    assert [d["message_id"] for d in dead] == [event_id]
    assert dead[0]["retries"] == 2 and "downstream not ready" in str(dead[0]["last_error"])
    assert await effects(sessions, consumer) == []

    # Replayed before the fix, it fails again and waits once more: replayed once, not in a loop.
    # (Each replay waits for the peek just before it: the broker puts a peeked dead letter back
    # a moment after the peek's channel closes, and a replay in that moment finds none.)
    assert await eventually(lambda: replay_dead_letters(bus, consumer)) == 1
    again = await eventually(lambda: list_dead_letters(bus, consumer))
    assert isinstance(again, list) and [d["message_id"] for d in again] == [event_id]

    broken["left"] = 0  # the fix is deployed
    assert await eventually(lambda: replay_dead_letters(bus, consumer)) == 1
    assert await eventually(lambda: effects(sessions, consumer)) == ["海淀区团委"]
    assert await list_dead_letters(bus, consumer) == []


async def test_a_malformed_message_is_dead_lettered_at_once(
    sessions: async_sessionmaker[AsyncSession], bus: Bus
) -> None:
    consumer = f"c.{uuid.uuid4().hex[:8]}"
    calls = {"left": 0}
    await bus.consume(
        Subscription(
            consumer,
            {"org.created": with_inbox(sessions, consumer, recording_handler(consumer, calls))},
        )
    )
    await bus.publish_event(
        b"{not json", event_type="org.created", message_id="garbage-1", headers={}
    )
    dead = await eventually(lambda: list_dead_letters(bus, consumer))
    assert isinstance(dead, list)
    assert dead[0]["message_id"] == "garbage-1" and dead[0]["reason"] == "rejected"
    assert await effects(sessions, consumer) == []


async def recording_consumer(sessions: async_sessionmaker[AsyncSession], bus: Bus) -> str:
    """A new consumer of org.created, behind the inbox, recording what it handles (`effects`)."""
    consumer = f"c.{uuid.uuid4().hex[:8]}"
    await bus.consume(
        Subscription(
            consumer, {"org.created": with_inbox(sessions, consumer, recording_handler(consumer))}
        )
    )
    return consumer


async def created_in_a_use_case(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    """An org.created written in the transaction of a traced use case; the trace's id."""
    with trace.get_tracer("test").start_as_current_span("use case") as span:
        async with sessions() as session, session.begin():
            await record_event(session, org_created(name), "test")
        return span.get_span_context().trace_id


async def test_the_consumer_span_continues_the_trace_of_the_writing_transaction(
    sessions: async_sessionmaker[AsyncSession],
    bus: Bus,
    relay: OutboxRelay,
    spans: InMemorySpanExporter,
) -> None:
    consumer = await recording_consumer(sessions, bus)
    trace_id = await created_in_a_use_case(sessions, "丰台区团委")
    await relay.relay_once()
    await eventually(lambda: effects(sessions, consumer))
    names = {s.name for s in spans.get_finished_spans() if s.context.trace_id == trace_id}
    assert {"use case", "org.created publish", f"{consumer} process"} <= names


async def test_events_of_two_requests_published_in_one_round_each_continue_their_own_trace(
    sessions: async_sessionmaker[AsyncSession],
    bus: Bus,
    relay: OutboxRelay,
    spans: InMemorySpanExporter,
) -> None:
    consumer = await recording_consumer(sessions, bus)
    trace_ids = [await created_in_a_use_case(sessions, n) for n in ("朝阳区团委", "海淀区团委")]
    assert await relay.relay_once() == 2  # one round, one write to the broker

    async def both_handled() -> list[str] | None:
        done = await effects(sessions, consumer)
        return done if len(done) == 2 else None

    await eventually(both_handled)
    for trace_id in trace_ids:
        names = [s.name for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
        assert sorted(names) == sorted(
            ["use case", "org.created publish", f"{consumer} process"]
        ), names


async def test_metrics_report_how_many_events_wait_in_a_queue_and_its_dlq(
    bus: Bus, platform: PlatformSettings
) -> None:
    from prometheus_client import REGISTRY

    from shared.queue_metrics import QueueGauges

    queue_name = f"q.{uuid.uuid4().hex[:8]}"
    await bus.declare(Subscription(queue_name, {"org.created": recording_handler(queue_name)}))
    for _ in range(3):
        await bus.publish_event(
            org_created().envelope("test").model_dump_json().encode(),
            event_type="org.created",
            message_id=str(uuid.uuid4()),
            headers={},
        )
    gauges = QueueGauges(platform.amqp_url, [queue_name])

    async def depth() -> float | None:
        await gauges.refresh()
        value = REGISTRY.get_sample_value("queue_messages", {"queue": queue_name})
        return value if value == 3 else None

    assert await eventually(depth) == 3
    assert REGISTRY.get_sample_value("dlq_messages", {"queue": queue_name}) == 0


async def test_sent_events_older_than_a_week_are_purged_and_unsent_ones_kept(
    sessions: async_sessionmaker[AsyncSession], relay: OutboxRelay
) -> None:
    async with sessions() as session, session.begin():
        old = await record_event(session, org_created("旧"), "test")
        unsent = await record_event(session, org_created("未发"), "test")
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE outbox SET sent_at = now() - interval '8 days' WHERE id = :id"),
            {"id": uuid.UUID(old)},
        )
    await relay.purge_sent()
    async with sessions() as session:
        left = {str(r.id) for r in await session.execute(text("SELECT id FROM outbox"))}
    assert old not in left and unsent in left


async def test_the_relay_publishes_on_commit_and_listens_again_after_losing_its_connection(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, relay: OutboxRelay
) -> None:
    import asyncio

    queue_name = f"q.{uuid.uuid4().hex[:8]}"
    queue = await bus.declare(
        Subscription(queue_name, {"org.created": recording_handler(queue_name)})
    )
    # A poll far longer than the test: only a notification can make the relay publish in time.
    relay.poll_seconds = 60
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.5)
        for round_ in range(2):
            async with sessions() as session, session.begin():
                await record_event(session, org_created(f"第{round_}次"), "test")
            message = await eventually(lambda: queue.get(no_ack=True, fail=False), within=5)
            assert message is not None
            # The database drops the relay's LISTEN connection; the next commit must still wake it.
            async with sessions() as session, session.begin():
                await session.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                    )
                )
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)


async def test_in_a_peak_the_relay_publishes_events_no_notification_announced(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, relay: OutboxRelay
) -> None:
    """Writers at a peak notify at most once a window (RelayWakeups): the relay's rounds then
    come by themselves until the peak ends."""
    import asyncio

    queue_name = f"q.{uuid.uuid4().hex[:8]}"
    queue = await bus.declare(
        Subscription(queue_name, {"org.created": recording_handler(queue_name)})
    )
    relay.poll_seconds = 60  # the poll would come too late: only the relay's own round is in time
    relay.busy_round = 3
    relay.busy_linger_seconds = 1.0  # the silent event below is written well within it
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.5)
        async with sessions() as session, session.begin():  # a peak's round, notified
            await record_events(session, [org_created(f"高峰{i}") for i in range(4)], "test")
        for _ in range(4):
            assert await eventually(lambda: queue.get(no_ack=True, fail=False), within=5)
        silent = org_created("未通知").envelope("test")
        async with sessions() as session, session.begin():  # written without a notification
            await session.execute(
                text(
                    "INSERT INTO outbox (id, type, version, envelope) "
                    "VALUES (:id, :type, :version, CAST(:envelope AS jsonb))"
                ),
                {
                    "id": silent.id,
                    "type": silent.type,
                    "version": silent.version,
                    "envelope": silent.model_dump_json(),
                },
            )
        message = await eventually(lambda: queue.get(no_ack=True, fail=False), within=5)
        assert message is not None and "未通知" in message.body.decode()
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)


async def test_the_relay_publishes_again_after_every_connection_was_terminated(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, relay: OutboxRelay
) -> None:
    """An operator's pg_terminate_backend over the whole database (issue 12's fault): the
    relay's pooled connections die with its LISTEN one, and it must not keep meeting them."""
    import asyncio

    from shared.db import make_engine, make_sessionmaker

    from .test_database_away import terminate_all

    queue_name = f"q.{uuid.uuid4().hex[:8]}"
    queue = await bus.declare(
        Subscription(queue_name, {"org.created": recording_handler(queue_name)})
    )
    engine = sessions.kw["bind"]
    own = make_engine(engine.url.render_as_string(hide_password=False), pool_size=2)
    relay = OutboxRelay(make_sessionmaker(own), bus, relay.listen_dsn, lanes=2)
    relay.poll_seconds = 60  # only a notification, or the relay's own recovery, publishes
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.5)
        async with sessions() as session, session.begin():
            await record_event(session, org_created("断开之前"), "test")
        assert await eventually(lambda: queue.get(no_ack=True, fail=False), within=5)
        assert await terminate_all(own) >= 1
        await asyncio.sleep(0.5)
        writer = make_engine(engine.url.render_as_string(hide_password=False))
        async with make_sessionmaker(writer)() as session, session.begin():
            await record_event(session, org_created("断开之后"), "test")
        await writer.dispose()
        message = await eventually(lambda: queue.get(no_ack=True, fail=False), within=10)
        assert message is not None and "断开之后" in message.body.decode()
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
        await own.dispose()


async def test_a_batching_consumer_takes_a_flood_in_few_commits_each_event_once(
    sessions: async_sessionmaker[AsyncSession], bus: Bus
) -> None:
    from collections.abc import Sequence

    from shared.batching import BatchingInbox

    consumer = f"c.{uuid.uuid4().hex[:8]}"
    sizes: list[int] = []

    async def handle_batch(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
        if any(isinstance(e, OrgCreated) and e.name == "毒" for e, _ in batch):
            raise RuntimeError("cannot handle this one")
        sizes.append(len(batch))
        for event, envelope in batch:
            assert isinstance(event, OrgCreated)
            await session.execute(
                text("INSERT INTO effects (event_id, consumer, note) VALUES (:id, :c, :note)"),
                {"id": envelope.id, "c": consumer, "note": event.name},
            )

    handler = BatchingInbox(sessions, consumer, handle_batch, max_size=20, max_wait=0.05)
    await bus.consume(Subscription(consumer, {"org.created": handler}, prefetch=100))
    envelopes = [org_created(f"团委{i}").envelope("test") for i in range(50)]
    poison = org_created("毒").envelope("test")
    for envelope in [*envelopes, envelopes[0], poison]:  # one duplicate, one that always fails
        await bus.publish_event(
            envelope.model_dump_json().encode(),
            event_type="org.created",
            message_id=str(envelope.id),
            headers={},
        )

    async def all_good_done() -> bool:
        return len(await effects(sessions, consumer)) >= 50

    await eventually(all_good_done)
    assert sorted(await effects(sessions, consumer)) == sorted(f"团委{i}" for i in range(50))
    assert max(sizes) > 1  # taken in batches, not one by one
    dead = await eventually(lambda: list_dead_letters(bus, consumer))
    assert isinstance(dead, list) and [d["message_id"] for d in dead] == [str(poison.id)]


async def test_batches_take_effect_in_the_order_their_events_arrived(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A full batch still committing when the next one is flushed: the next waits its turn, so
    a member created in the first is there when the second moves it."""
    import asyncio
    from collections.abc import Sequence

    from shared.batching import BatchingInbox

    consumer = f"c.{uuid.uuid4().hex[:8]}"
    taking_effect: list[str] = []

    async def handle_batch(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
        first = batch[0][0]
        assert isinstance(first, OrgCreated)
        taking_effect.append(f"begin {first.name}")
        if first.name == "团委0":
            await asyncio.sleep(0.3)  # a large first batch, long after the second is flushed
        taking_effect.append(f"end {first.name}")

    handler = BatchingInbox(sessions, consumer, handle_batch, max_size=5, max_wait=0.01)
    events = [org_created(f"团委{i}") for i in range(6)]  # a full batch of 5, then one more
    await asyncio.gather(*(handler(e, e.envelope("test")) for e in events))
    assert taking_effect == ["begin 团委0", "end 团委0", "begin 团委5", "end 团委5"]


async def test_a_short_lived_process_queue_goes_once_unused_and_a_service_queue_stays(
    bus: Bus, platform: PlatformSettings
) -> None:
    """A gateway pod's own state queue (and its DLQ) is deleted by the broker after the pod is
    gone, so replaced pods leave nothing to fill up; services' queues are never deleted."""
    pod_queue, service_queue = (f"q.{uuid.uuid4().hex[:8]}" for _ in range(2))
    handlers = {"org.created": recording_handler(pod_queue)}
    await bus.declare(Subscription(pod_queue, handlers, expires_ms=1_000))
    await bus.declare(Subscription(service_queue, handlers))
    connection = await aio_pika.connect(platform.amqp_url)
    try:

        async def exists(name: str) -> bool:
            channel = await connection.channel()
            try:
                await channel.declare_queue(name, passive=True)
                return True
            except aio_pika.exceptions.ChannelClosed:
                return False
            finally:
                if not channel.is_closed:
                    await channel.close()

        assert await exists(pod_queue)

        async def gone() -> bool | None:
            return True if not await exists(pod_queue) else None

        assert await eventually(gone, within=20)
        assert not await exists(f"{pod_queue}.dlq")
        assert await exists(service_queue) and await exists(f"{service_queue}.dlq")
    finally:
        await connection.close()
