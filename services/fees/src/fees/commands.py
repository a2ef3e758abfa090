"""Commands of the fees service's work queues (messages to do something, not facts): they
travel through the outbox like events, to a queue of their own that workers share."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from shared.events import Event, register

GENERATE_BILLS_QUEUE = "fees.generate-bills"


@register
class GenerateBills(Event):
    """Write the bills of one chunk of branches for a month (fees.domain.cycles)."""

    type: ClassVar[str] = "fees.generate_bills"
    month: date
    chunk_no: int
