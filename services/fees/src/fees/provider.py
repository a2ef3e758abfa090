"""The payment provider behind online payments: where a payment is created and given back, and
how its signed callback is checked. No real provider is connected; `FakeProvider` stands in for
tests and local trials, and can succeed, fail or time out as told."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

SIGNATURE_HEADER = "X-Provider-Signature"


class ProviderUnavailable(Exception):
    """The provider refused or did not answer in time: nothing was charged."""


class PaymentProvider(Protocol):
    async def create(self, payment_id: uuid.UUID, amount_fen: int) -> str:
        """The provider's reference of a new payment the member then completes with it."""
        ...

    async def refund(self, payment_id: uuid.UUID, amount_fen: int) -> str:
        """Gives a payment's money back to the member; the provider's reference of the refund.
        The payment's id is the refund's number at the provider, so asking twice (a retry, two
        admins at once) refunds once and answers the same reference."""
        ...


FakeMode = Literal["succeed", "fail", "time_out"]


class FakeProvider:
    def __init__(self, mode: FakeMode = "succeed", time_limit: float = 0.2) -> None:
        self.mode: FakeMode = mode
        self.time_limit = time_limit
        self.created: list[uuid.UUID] = []
        self.refunded: dict[uuid.UUID, int] = {}  # payment → fen given back, once each
        # What the provider does before its answer reaches us (a test's callback that comes
        # first: providers call back from elsewhere, whenever they like).
        self.before_answering: Callable[[uuid.UUID], Awaitable[None]] | None = None
        # The same before it answers a refund (a test's provider that hangs until released).
        self.before_refunding: Callable[[uuid.UUID], Awaitable[None]] | None = None

    async def create(self, payment_id: uuid.UUID, amount_fen: int) -> str:
        if self.before_answering is not None:
            await self.before_answering(payment_id)
        await self._answer_as_told()
        self.created.append(payment_id)
        return f"fake-{payment_id.hex[:16]}"

    async def refund(self, payment_id: uuid.UUID, amount_fen: int) -> str:
        if self.before_refunding is not None:
            await self.before_refunding(payment_id)
        await self._answer_as_told()
        self.refunded.setdefault(payment_id, amount_fen)
        return f"fake-refund-{payment_id.hex[:16]}"

    async def _answer_as_told(self) -> None:
        if self.mode == "fail":
            raise ProviderUnavailable("refused")
        if self.mode == "time_out":
            try:
                await asyncio.wait_for(asyncio.sleep(3600), self.time_limit)
            except TimeoutError as exc:
                raise ProviderUnavailable("timed out") from exc


def callback_signature(key: bytes, body: bytes) -> str:
    """What the provider signs its callbacks with: HMAC-SHA256 of the raw body, hex."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def signed_by_provider(key: bytes, body: bytes, signature: str | None) -> bool:
    """Compared as bytes: `compare_digest` refuses a str with a letter outside ASCII (a
    TypeError, a 500), and a header's bytes are whatever the sender put there."""
    if signature is None:
        return False
    expected = callback_signature(key, body).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("latin-1", errors="replace"))
