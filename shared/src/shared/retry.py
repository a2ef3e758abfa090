"""One more try when the database failed a request it did not refuse (issue 12): its connection
was lost, or it rolled the transaction back to let another go on (a deadlock's victim).

A connection PostgreSQL terminated (a restart, a failover, an operator's pg_terminate_backend)
fails the statement that meets it; SQLAlchemy then discards the whole pool's connections, so a
second try runs on a fresh one and usually succeeds. The transaction of the first try was
rolled back with its connection, so trying again writes nothing twice; only a connection lost
during COMMIT leaves it unknown whether the first try was kept, and there the request's own
guards answer the second (an Idempotency-Key replays the first answer; a unique record answers
409). A request is tried again only while nothing of its answer has gone to the client, and only
once: a database that stays away is 503 with Retry-After (shared.problems).

A deadlock's victim (SQLSTATE 40P01) or a serialization failure (40001) was rolled back whole by
the database, on a connection still good: the second try runs the same request again, as
PostgreSQL's manual advises. Lock orders are ours to keep and a deadlock is logged as the bug it
is, but the user who met one gets an answer, not a 500.

Plain ASGI, inside the request observer: both tries are in the request's one trace.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import get_logger

log = get_logger(__name__)

# The scope key where a try is marked when the database failed it (connection lost, or the
# transaction rolled back by the database).
ANOTHER_TRY = "league.another_try"


def mark_worth_another_try(scope: MutableMapping[str, Any]) -> None:
    """Called by the problem handlers that answer 503 for a lost connection or a transaction
    the database rolled back."""
    flag = scope.get(ANOTHER_TRY)
    if isinstance(flag, list):
        flag.append(True)


class RetryAfterDatabaseFailure:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        held: list[Message] = []
        failed: list[bool] = []

        async def holding(message: Message) -> None:
            # The answer's start decides: a 503 the database caused is kept back (and its
            # body with it); anything else goes out as it comes.
            starts_503 = message["type"] == "http.response.start" and message["status"] == 503
            if held or (starts_503 and failed):
                held.append(message)
            else:
                await send(message)

        scope[ANOTHER_TRY] = failed
        await self.app(scope, recording, holding)
        if not held:
            return
        log.warning("retry_after_database_failure", method=scope["method"], path=scope["path"])
        replay = iter(received)

        async def replaying() -> Message:
            # The body as the first try read it, then whatever it had not read yet.
            return next(replay, None) or await receive()

        scope[ANOTHER_TRY] = []  # the second try's answer, 503 or not, goes out as it is
        await self.app(scope, replaying, send)
