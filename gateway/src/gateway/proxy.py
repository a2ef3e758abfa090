"""Forwarding to the services over one pooled HTTP client, and the gateway's own calls to them.

Services listen on the loopback or a private network and trust only the caller identity in the
HMAC-signed `x-league-caller` header (shared.caller), which only the gateway can sign: so the
gateway never passes on a client's own `x-league-*` headers, only an allow-list of headers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from opentelemetry import propagate, trace

from shared.caller import SYSTEM_CALLER, Caller, sign_caller
from shared.logging import get_logger
from shared.problems import Problem

log = get_logger(__name__)

FORWARDED_REQUEST_HEADERS = (
    "content-type",
    "accept",
    "idempotency-key",
    "accept-language",
    # The payment provider's signature of its callback (fees checks it).
    "x-provider-signature",
)
RETURNED_RESPONSE_HEADERS = ("retry-after", "location", "content-disposition")


def service_unavailable(service: str) -> Problem:
    return Problem(
        503,
        "gateway.service_unavailable",
        f"The {service} service does not answer; try again shortly.",
        headers={"Retry-After": "1"},
        service=service,
    )


def upstream_problem(service: str, exc: httpx.HTTPError) -> Problem:
    """No 500 for a failing service: say which kind of failure it was."""
    return forwarding_problem(service, httpx_failure(exc))


def too_large(limit: int) -> Problem:
    return Problem(
        413, "request.too_large", f"The request body is larger than {limit} bytes.", limit=limit
    )


def check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        length = int(declared)
    except ValueError as exc:
        raise Problem(400, "request.invalid", "Content-Length is not a number.") from exc
    if length > limit:
        raise too_large(limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing it as soon as it outgrows the limit (chunked uploads too)."""
    check_declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class Answer:
    """A service's answer, as the gateway passes it back: whole, or (a service streaming it,
    without a length: a large export) as its chunks arrive, so the gateway never holds it."""

    status: int
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes
    stream: AsyncGenerator[bytes, None] | None = None


class Unreachable(Exception):
    """Nothing was sent: no connection could be had (refused, connect timeout, pool full)."""


class TimedOut(Exception):
    """Sent, but no answer in time: the request may have taken effect."""


class NoUsableAnswer(Exception):
    """The connection broke or the answer was not HTTP."""


class BadTarget(Exception):
    """The path, query or a header cannot be sent on as it is."""


class Forwarder(Protocol):
    """One HTTP exchange with a service, errors told apart by what they mean for the client."""

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer: ...

    async def close(self) -> None: ...


class HttpxForwarder:
    """Forwarding over an httpx client: what tests use, with services served in-process."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        try:
            response = await self._client.request(
                method,
                url,
                content=body,
                headers={k.encode(): v.encode() for k, v in headers.items()},
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise httpx_failure(exc) from exc
        return Answer(response.status_code, list(response.headers.raw), response.content)

    async def close(self) -> None:
        return None


def httpx_failure(exc: httpx.HTTPError | httpx.InvalidURL) -> Exception:
    """What an httpx error means, in the forwarders' terms."""
    if isinstance(exc, httpx.InvalidURL):
        return BadTarget(str(exc))
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Unreachable(type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return TimedOut(type(exc).__name__)
    return NoUsableAnswer(type(exc).__name__)


def forwarding_problem(service: str, exc: Exception) -> Problem:
    """No 500 for a failing service: say which kind of failure it was. Every one that passes
    (a service restarting, slow, or dying under the request) is 503 with Retry-After, as the
    services answer their own transient faults (shared.problems); a request that was sent may
    have taken effect, which an Idempotency-Key makes safe to repeat."""
    if isinstance(exc, BadTarget):
        return Problem(400, "request.invalid", "The request path, query or a header is not valid.")
    if isinstance(exc, Unreachable):
        return service_unavailable(service)
    if isinstance(exc, TimedOut):
        return Problem(
            503,
            "gateway.upstream_timeout",
            f"The {service} service did not answer in time; try again shortly.",
            headers={"Retry-After": "1"},
            service=service,
        )
    return Problem(
        503,
        "gateway.upstream_lost",
        f"The {service} service broke off its answer; try again shortly.",
        headers={"Retry-After": "1"},
        service=service,
    )


class Upstreams:
    """The services' base URLs, the client for the gateway's own calls to them, and the
    forwarder that carries the clients' requests."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        services: Mapping[str, str],
        secret: str,
        forwarder: Forwarder | None = None,
    ) -> None:
        self.client = client
        self.services = dict(services)
        self._secret = secret
        self.forwarder: Forwarder = forwarder or HttpxForwarder(client)

    def url(self, service: str, path: str) -> str:
        return self.services[service] + path

    async def system_get(
        self,
        service: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        time_limit: float | None = None,
    ) -> httpx.Response:
        """A GET as the platform itself (snapshots, read-through, route tables, readiness)."""
        return await self.client.get(
            self.url(service, path),
            params=params,
            headers=sign_caller(SYSTEM_CALLER, self._secret),
            timeout=time_limit if time_limit is not None else httpx.USE_CLIENT_DEFAULT,
        )

    async def forward(
        self,
        request: Request,
        service: str,
        path: str,
        body: bytes,
        caller: Caller | None,
    ) -> Response:
        headers = forwarded_headers(request)
        if caller is not None:
            headers.update(sign_caller(caller, self._secret))
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = self.url(service, path) + (f"?{query}" if query else "")
        # Services answer GET; a HEAD is a GET whose body is not sent back.
        method = "GET" if request.method == "HEAD" else request.method
        # No client span of its own: the request's server span (shared.observe) covers the
        # forwarding, and the service's server span is its child. A second span per request was
        # a seventh of the gateway's CPU (made, ended, encoded and exported), for a timing the
        # service's span already shows.
        span = trace.get_current_span()
        span.set_attribute("league.upstream", service)
        propagate.inject(headers)
        try:
            answer = await self.forwarder.send(method, url, headers, body)
        except (Unreachable, TimedOut, NoUsableAnswer, BadTarget) as exc:
            log.warning(
                "upstream_failed", upstream=service, method=method, error=type(exc).__name__
            )
            span.set_attribute("error.type", type(exc).__name__)
            raise forwarding_problem(service, exc) from exc
        response: Response
        if answer.stream is not None and request.method != "HEAD":
            response = StreamingResponse(answer.stream, answer.status)
        else:
            if answer.stream is not None:  # a HEAD: its connection goes back unread
                await answer.stream.aclose()
            response = Response(b"" if request.method == "HEAD" else answer.body, answer.status)
        response.raw_headers.extend(
            (name.lower(), value)
            for name, value in answer.raw_headers
            if name.lower() in RETURNED_RESPONSE_HEADER_BYTES
        )
        return response


RETURNED_RESPONSE_HEADER_BYTES = frozenset(
    name.encode() for name in (*RETURNED_RESPONSE_HEADERS, "content-type")
)


def forwarded_headers(request: Request) -> dict[str, str]:
    """The allow-listed headers of the client's request, as the text of the bytes it sent.

    Starlette decodes header bytes as latin-1; a value is passed on as the UTF-8 text of those
    bytes, so that it reaches the service byte for byte. Bytes that are not UTF-8 are refused.
    """
    headers: dict[str, str] = {}
    for name in FORWARDED_REQUEST_HEADERS:
        value = request.headers.get(name)
        if value is None:
            continue
        try:
            headers[name] = value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Problem(
                400, "request.invalid", f"The {name} header is not valid UTF-8 text."
            ) from exc
    return headers
