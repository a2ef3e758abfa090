"""RabbitMQ on aio-pika: topology declared at start-up, confirmed persistent publishes, consumers that
ack only after the effect is committed, TTL retry queues and a dead-letter queue per consumer queue.

Topology for a subscription `q` (one per consuming service and purpose):
- `q`: durable quorum queue bound to the events exchange for exactly its event types; rejected
  messages and those past the delivery limit are dead-lettered (at-least-once) to `q.dlq`.
- `q.retry.<ms>`: one delay queue per back-off step; expired messages return to `q`.
- `q.dlq`: where messages wait for an operator (see shared.deadletters).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq import spec
from aiormq.abc import ChannelFrame
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from pamqp.header import ContentHeader
from pydantic import ValidationError

from shared.events import Envelope, Event, UnknownEvent, parse_event
from shared.logging import get_logger
from shared.settings import PlatformSettings
from shared.telemetry import extract_context, inject_context

EVENTS_EXCHANGE = "league.events"
PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)
DEAD_LETTER_EXCHANGE = "league.dead-letter"
# Events no queue is bound for land here (alternate exchange) instead of failing the publish:
# a type nobody consumes yet must not block the outbox; an operator can still see them.
UNROUTED_EXCHANGE = "league.unrouted"
UNROUTED_TTL_MS = 7 * 24 * 3600 * 1000
RETRY_HEADER = "x-league-retries"
ERROR_HEADER = "x-league-error"

log = get_logger(__name__)
tracer = trace.get_tracer("shared.bus")

EventHandler = Callable[[Event, Envelope], Awaitable[None]]


class Outgoing(NamedTuple):
    """An event to publish: its envelope as JSON bytes, its type (the routing key) and id, and
    its headers (the trace context of its publish span)."""

    body: bytes
    event_type: str
    message_id: str
    headers: dict[str, Any]


def _forget_message_id(channel: aiormq.Channel, message_id: str, tag: int) -> Callable[[Any], None]:
    """Once its confirm is in, a message id no longer names a delivery (as aiormq does)."""

    def forget(_: Any) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)

    return forget


class PublishRefused(Exception):
    """The broker did not confirm a publish."""


class PermanentError(Exception):
    """Retrying cannot help (bad payload, broken invariant): dead-letter at once."""


@dataclass(frozen=True)
class Subscription:
    """A consumer queue and the handler for each event type it is bound to."""

    queue: str
    handlers: Mapping[str, EventHandler]
    # Deliveries in flight at once; a batching handler (shared.batching) needs room for a batch.
    prefetch: int | None = None
    # A queue of one short-lived process (a gateway pod's own copy of the state): the broker
    # deletes it, with its DLQ and retry queues, once unused this long, so replaced pods leave
    # nothing behind to fill up. None: kept for good, as every service's queues are.
    expires_ms: int | None = None

    @property
    def event_types(self) -> list[str]:
        return sorted(self.handlers)


@dataclass(frozen=True)
class LatestOnly:
    """Events a service publishes at a flood's rate that no service consumes (yet): fees'
    `fee.paid`, millions at a month start. Bound to a queue of their own that keeps the latest
    `keep` (the oldest dropped), so they are routed and never reach `league.unrouted`, which
    would keep every one of them for a week (GBs on the broker's disk, its memory alarm near).
    An operator still sees the latest there; a service that comes to consume them binds its own
    queue and gets every one from then on."""

    queue: str
    event_types: tuple[str, ...]
    keep: int = 10_000


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


def retry_queue(queue: str, delay_ms: int) -> str:
    return f"{queue}.retry.{delay_ms}"


def copy_message(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A persistent copy of a received message (body, id, type) with `headers` instead of its own."""
    return aio_pika.Message(
        message.body,
        message_id=message.message_id,
        type=message.type,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers,
    )


class Bus:
    def __init__(self, platform: PlatformSettings, name: str) -> None:
        self.platform = platform
        self.name = name
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._events: AbstractExchange | None = None

    async def connect(self) -> None:
        # A robust connection reconnects after a broker restart and re-declares what was declared
        # through it (exchanges, queues, bindings, consumers).
        self._connection = await aio_pika.connect_robust(
            self.platform.amqp_url, client_properties={"connection_name": self.name}
        )
        self._publish_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._events = await declare_exchanges(self._publish_channel)

    @property
    def connection(self) -> AbstractRobustConnection:
        assert self._connection is not None, "call connect() first"
        return self._connection

    @property
    def publish_channel(self) -> AbstractChannel:
        assert self._publish_channel is not None, "call connect() first"
        return self._publish_channel

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def declare(self, subscription: Subscription) -> AbstractQueue:
        """Declare a subscription's queues and bindings; safe to repeat."""
        return await declare_subscription(self.publish_channel, subscription, self.platform)

    async def declare_latest_only(self, latest: LatestOnly) -> AbstractQueue:
        """Declare a `LatestOnly` queue and its bindings; safe to repeat."""
        events = await declare_exchanges(self.publish_channel)
        queue = await self.publish_channel.declare_queue(
            latest.queue,
            durable=True,
            # A classic queue: a sample to look at, not work to do; dropping its head is cheap.
            arguments={"x-max-length": latest.keep, "x-overflow": "drop-head"},
        )
        for event_type in latest.event_types:
            await queue.bind(events, routing_key=event_type)
        return queue

    async def publish_event(
        self, body: bytes, *, event_type: str, message_id: str, headers: dict[str, Any]
    ) -> None:
        """Persistent, mandatory, and awaited until the broker confirms it."""
        await self.publish_events([Outgoing(body, event_type, message_id, headers)])

    async def publish_events(self, events: Sequence[Outgoing]) -> None:
        """A run of events, each persistent and mandatory, written to the broker back to back;
        returns once the broker confirmed every one, raises if it refused any.

        aiormq's `basic_publish` takes the channel lock, a timeout, a write and a drain for each
        message, and a window in flight needs a task each: together more of the relay's CPU than
        the framing itself. Here one lock, one write and one drain carry the whole run. The
        confirms use aiormq's own bookkeeping, as `basic_publish` does (a delivery tag and a
        confirmation future per message, the message id for a return), so an ack, a nack, a
        return or a closing channel settles them exactly as it would its own. (aiormq is pinned by
        uv.lock; test_messaging.py holds a round's confirms and a publish that failed before it
        was sent, the fault suite a broker restart under the relay.)
        """
        if not events:
            return
        channel = cast(aiormq.Channel, await self.publish_channel.get_underlay_channel())
        assert channel.publisher_confirms, "the publish channel confirms"
        confirmations: list[asyncio.Future[Any]] = []
        async with channel.lock:
            first_tag = channel.delivery_tag + 1
            frames: list[Any] = []
            try:
                for event in events:
                    channel.delivery_tag += 1
                    tag = channel.delivery_tag
                    confirmation = channel.create_future()
                    channel.confirmations[tag] = confirmation
                    channel.message_id_delivery_tag[event.message_id] = tag
                    confirmation.add_done_callback(
                        _forget_message_id(channel, event.message_id, tag)
                    )
                    confirmations.append(confirmation)
                    frames += [
                        spec.Basic.Publish(
                            exchange=EVENTS_EXCHANGE, routing_key=event.event_type, mandatory=True
                        ),
                        ContentHeader(
                            properties=spec.Basic.Properties(
                                message_id=event.message_id,
                                message_type=event.event_type,
                                content_type="application/json",
                                delivery_mode=PERSISTENT,
                                headers=event.headers,
                            ),
                            body_size=len(event.body),
                        ),
                        *channel._split_body(event.body),
                    ]
                drained = channel.create_future()
                await channel.write_queue.put(
                    ChannelFrame.marshall(
                        frames=frames, channel_number=channel.number, drain_future=drained
                    )
                )
            except BaseException:
                # Nothing went to the broker: give the delivery tags back while the lock is held,
                # or every later confirm would settle the wrong message.
                for tag in range(first_tag, channel.delivery_tag + 1):
                    channel.confirmations.pop(tag, None)
                for event in events:
                    channel.message_id_delivery_tag.pop(event.message_id, None)
                for confirmation in confirmations:
                    confirmation.cancel()
                channel.delivery_tag = first_tag - 1
                raise
            await drained
        outcomes = await asyncio.gather(*confirmations)
        refused = [o for o in outcomes if not isinstance(o, spec.Basic.Ack)]
        if refused:
            # Nack (the broker could not take it) or a return (no route even to the alternate
            # exchange): the relay leaves the rows unsent and tries again.
            raise PublishRefused(f"{len(refused)} of {len(events)} events refused")

    async def publish_to_queue(self, queue: str, message: aio_pika.Message) -> None:
        await self.publish_channel.default_exchange.publish(message, routing_key=queue)

    async def consume(self, subscription: Subscription) -> None:
        channel = await self.connection.channel(publisher_confirms=True)
        await channel.set_qos(
            prefetch_count=subscription.prefetch or self.platform.consumer_prefetch
        )
        queue = await declare_subscription(channel, subscription, self.platform)
        consumer = _Consumer(self, subscription)
        await queue.consume(consumer.on_message)
        log.info("consuming", queue=subscription.queue, event_types=subscription.event_types)


async def declare_exchanges(channel: AbstractChannel) -> AbstractExchange:
    """The events exchange (with its alternate exchange) and the dead-letter exchange."""
    unrouted = await channel.declare_exchange(
        UNROUTED_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    unrouted_queue = await channel.declare_queue(
        UNROUTED_EXCHANGE,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-message-ttl": UNROUTED_TTL_MS},
    )
    await unrouted_queue.bind(unrouted)
    await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    return await channel.declare_exchange(
        EVENTS_EXCHANGE,
        aio_pika.ExchangeType.TOPIC,
        durable=True,
        arguments={"alternate-exchange": UNROUTED_EXCHANGE},
    )


async def declare_subscription(
    channel: AbstractChannel, subscription: Subscription, platform: PlatformSettings
) -> AbstractQueue:
    events = await declare_exchanges(channel)
    dlx = await channel.get_exchange(DEAD_LETTER_EXCHANGE, ensure=False)
    name = subscription.queue
    expiry = {"x-expires": subscription.expires_ms} if subscription.expires_ms else {}
    dlq = await channel.declare_queue(
        dead_letter_queue(name), durable=True, arguments={"x-queue-type": "quorum", **expiry}
    )
    await dlq.bind(dlx, routing_key=name)
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": platform.delivery_limit,
            **expiry,
        },
    )
    for event_type in subscription.event_types:
        await queue.bind(events, routing_key=event_type)
    for delay_ms in platform.retry_delays_ms:
        await channel.declare_queue(
            retry_queue(name, delay_ms),
            durable=True,
            arguments={
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": name,
                **expiry,
            },
        )
    return queue


class _Consumer:
    def __init__(self, bus: Bus, subscription: Subscription) -> None:
        self.bus = bus
        self.subscription = subscription
        self.delays = bus.platform.retry_delays_ms
        self.fail_types = set(bus.platform.fault_fail_event_types)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        ctx = extract_context(message.headers)
        handler = self.subscription.handlers.get(message.type or "")
        if getattr(handler, "traces_batches", False):
            # A batching handler traces each batch once, linked to its messages' producers; a
            # span per message was the largest single cost of consuming an import's flood.
            token = otel_context.attach(ctx)
            try:
                await self._handle(message, None)
            finally:
                otel_context.detach(token)
            return
        with tracer.start_as_current_span(
            f"{self.subscription.queue} process",
            context=ctx,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.destination.name": self.subscription.queue,
                "messaging.message.id": message.message_id or "",
                "messaging.rabbitmq.destination.routing_key": message.routing_key or "",
            },
        ) as span:
            await self._handle(message, span)

    async def _handle(self, message: AbstractIncomingMessage, span: trace.Span | None) -> None:
        try:
            envelope = Envelope.model_validate_json(message.body)
            handler = self.subscription.handlers.get(envelope.type)
            if handler is None:
                raise PermanentError(f"no handler for {envelope.type}")
            event = parse_event(envelope)
            if envelope.type in self.fail_types:
                raise RuntimeError(f"injected fault for {envelope.type}")
            await handler(event, envelope)
        except (ValidationError, UnknownEvent, PermanentError, json.JSONDecodeError) as exc:
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            log.error(
                "event_rejected",
                queue=self.subscription.queue,
                message_id=message.message_id,
                error=type(exc).__name__,
            )
            await message.reject(requeue=False)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if span is not None:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            await self._retry_or_dead_letter(message, exc)
            return
        await message.ack()

    async def _retry_or_dead_letter(self, message: AbstractIncomingMessage, exc: Exception) -> None:
        retries = int(str((message.headers or {}).get(RETRY_HEADER, 0) or 0))
        if retries >= len(self.delays):
            log.error(
                "event_dead_lettered",
                queue=self.subscription.queue,
                message_id=message.message_id,
                retries=retries,
                error=type(exc).__name__,
            )
            await message.reject(requeue=False)
            return
        delay = self.delays[retries]
        headers = dict(message.headers or {})
        headers[RETRY_HEADER] = retries + 1
        headers[ERROR_HEADER] = f"{type(exc).__name__}: {exc}"[:500]
        headers.update(inject_context())
        copy = copy_message(message, headers)
        # Publish the retry (confirmed) before acking: a crash between the two doubles the
        # message, which the inbox absorbs; the other order could lose it.
        await self.bus.publish_to_queue(retry_queue(self.subscription.queue, delay), copy)
        await message.ack()
        log.warning(
            "event_retry_scheduled",
            queue=self.subscription.queue,
            message_id=message.message_id,
            retry=retries + 1,
            delay_ms=delay,
            error=type(exc).__name__,
        )
