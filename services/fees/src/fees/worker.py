"""Work-queue consumers of the fees service (the `worker` role, `fees-worker` in the launcher):
the month start's bill generation, a chunk of branches a command. Scaled by queue length."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from fees.commands import GENERATE_BILLS_QUEUE, GenerateBills
from fees.domain.months import label
from fees.service import cycles
from shared.bus import Subscription
from shared.events import Envelope, Event
from shared.inbox import with_inbox
from shared.logging import get_logger
from shared.process import Resources

log = get_logger(__name__)


def work(resources: Resources) -> list[Subscription]:
    async def generate(session: AsyncSession, command: Event, _: Envelope) -> None:
        assert isinstance(command, GenerateBills)
        bills = await cycles.generate_bills(session, command.month, command.chunk_no)
        log.info(
            "fee_chunk_generated", month=label(command.month), chunk=command.chunk_no, bills=bills
        )

    handler = with_inbox(resources.sessions, GENERATE_BILLS_QUEUE, generate)
    # One chunk at a time per worker: another worker takes the next, and a worker that dies
    # hands back only the chunk it held.
    return [Subscription(GENERATE_BILLS_QUEUE, {GenerateBills.type: handler}, prefetch=1)]
