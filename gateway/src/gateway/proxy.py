"""Forwarding to the services over one pooled HTTP client, and the gateway's own calls to them.

Services listen on the loopback or a private network and trust only the caller identity in the
HMAC-signed `x-league-caller` header (shared.caller), which only the gateway can sign: so the
gateway never passes on a client's own `x-league-*` headers, only an allow-list of headers.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import Request, Response

from shared.caller import SYSTEM_CALLER, Caller, sign_caller
from shared.logging import get_logger
from shared.problems import Problem

log = get_logger(__name__)

FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "idempotency-key", "accept-language")
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
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return service_unavailable(service)
    if isinstance(exc, httpx.TimeoutException):
        # The request may have taken effect: clients must not read this as "nothing happened".
        return Problem(
            504,
            "gateway.upstream_timeout",
            f"The {service} service did not answer in time.",
            title="Gateway timeout",
            service=service,
        )
    return Problem(
        502,
        "gateway.bad_upstream",
        f"The {service} service gave no usable answer.",
        service=service,
    )


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


class Upstreams:
    """The services' base URLs and the one pooled client every call to them goes through."""

    def __init__(self, client: httpx.AsyncClient, services: Mapping[str, str], secret: str) -> None:
        self.client = client
        self.services = dict(services)
        self._secret = secret

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
        # Header values travel as the bytes the client sent (Starlette decoded them as latin-1);
        # as text, httpx would refuse anything outside ASCII.
        headers: dict[bytes, bytes] = {
            name.encode(): value.encode("latin-1")
            for name in FORWARDED_REQUEST_HEADERS
            if (value := request.headers.get(name)) is not None
        }
        if caller is not None:
            signed = sign_caller(caller, self._secret)
            headers.update((name.encode(), value.encode()) for name, value in signed.items())
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = self.url(service, path) + (f"?{query}" if query else "")
        try:
            # Services answer GET; a HEAD is a GET whose body is not sent back.
            method = "GET" if request.method == "HEAD" else request.method
            upstream = await self.client.request(method, url, content=body, headers=headers)
        except httpx.InvalidURL as exc:
            raise Problem(
                400, "request.invalid", "The request path or query is not valid."
            ) from exc
        except httpx.HTTPError as exc:
            log.warning(
                "upstream_failed", upstream=service, method=request.method, error=type(exc).__name__
            )
            raise upstream_problem(service, exc) from exc
        content = b"" if request.method == "HEAD" else upstream.content
        response = Response(content, status_code=upstream.status_code)
        wanted = {name.encode() for name in (*RETURNED_RESPONSE_HEADERS, "content-type")}
        response.raw_headers.extend(
            (name.lower(), value) for name, value in upstream.headers.raw if name.lower() in wanted
        )
        return response
