"""Consumer lag and dead letters as Prometheus gauges: the depth of a service's queues and DLQs,
read from the broker when /metrics is scraped."""

from __future__ import annotations

import aio_pika
from prometheus_client import Gauge

from shared.bus import dead_letter_queue
from shared.logging import get_logger

QUEUE_DEPTH = Gauge(
    "queue_messages", "Messages waiting in a consumer queue (consumer lag)", ["queue"]
)
DLQ_DEPTH = Gauge(
    "dlq_messages", "Messages waiting for an operator in a dead-letter queue", ["queue"]
)
log = get_logger(__name__)


class QueueGauges:
    def __init__(self, amqp_url: str, queues: list[str]) -> None:
        self.amqp_url = amqp_url
        self.queues = queues

    async def refresh(self) -> None:
        # A short-lived connection: scrapes are rare, and an API process holds no broker connection
        # otherwise (it writes events to its outbox).
        connection = await aio_pika.connect(self.amqp_url, timeout=2)
        try:
            for queue in self.queues:
                for name, gauge in ((queue, QUEUE_DEPTH), (dead_letter_queue(queue), DLQ_DEPTH)):
                    # A passive declare of a missing queue closes its channel: one channel each.
                    channel = await connection.channel()
                    try:
                        declared = await channel.declare_queue(name, passive=True)
                        gauge.labels(queue).set(declared.declaration_result.message_count or 0)
                    except aio_pika.exceptions.ChannelClosed:
                        log.warning("queue_missing", queue=name)
                    finally:
                        if not channel.is_closed:
                            await channel.close()
        finally:
            await connection.close()
