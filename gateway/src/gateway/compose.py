"""The one answer the gateway composes: `GET /me` from identity, with the unread count of the
caller's notification inbox from activities (API.md: `GET /me` carries
`unread_notifications`). Both are asked at once; an inbox that does not answer within a moment
leaves the count out (null) rather than the account."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import Response

from gateway.proxy import Upstreams
from shared.caller import Caller, sign_caller
from shared.logging import get_logger

log = get_logger(__name__)
ME = "/me"
UNREAD = "/me/notifications/unread-count"
UNREAD_WAIT_SECONDS = 1.0


async def unread_count(upstreams: Upstreams, caller: Caller, secret: str) -> int | None:
    try:
        response = await upstreams.client.get(
            upstreams.url("activities", UNREAD),
            headers=sign_caller(caller, secret),
            timeout=UNREAD_WAIT_SECONDS,
        )
        if response.status_code == 200:
            return int(response.json()["unread"])
        log.info("unread_count_unavailable", status=response.status_code)
    except Exception as exc:  # any failure of the inbox only leaves the count out
        log.info("unread_count_unavailable", error=type(exc).__name__)
    return None


async def me(
    upstreams: Upstreams, request: Request, body: bytes, caller: Caller, secret: str
) -> Response:
    account, unread = await asyncio.gather(
        upstreams.forward(request, "identity", ME, body, caller),
        unread_count(upstreams, caller, secret),
    )
    if account.status_code != 200 or request.method != "GET":
        return account
    answer = json.loads(bytes(account.body))
    answer["unread_notifications"] = unread
    composed = Response(json.dumps(answer, ensure_ascii=False), 200, media_type="application/json")
    composed.raw_headers.extend(
        (name, value)
        for name, value in account.raw_headers
        if name not in (b"content-length", b"content-type")
    )
    return composed
