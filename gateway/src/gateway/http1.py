"""The client that forwards clients' requests to the services: HTTP/1.1 over pooled keep-alive
connections, on asyncio's protocol API with httptools' parser (the one uvicorn reads requests
with).

Why not a general client: aiohttp cost ~185 µs of the gateway's CPU a forwarded request and this
~26 µs (the same request and answer against one stand-in service, on this machine), and every
request through the gateway pays it. What forwarding needs is small: one request written whole
(the gateway has read and limited the body already), an answer read whole, or passed on as it
arrives when a service streams it (an export: 200 without a length), keep-alive connections
reused newest first, a bound on connections in use, and failures told apart by what they mean
for the client (gateway.proxy: nothing sent, sent but no answer in time, no usable answer, a
request that cannot be sent as it is).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import AsyncGenerator
from urllib.parse import urlsplit

import httptools

from gateway.proxy import Answer, BadTarget, NoUsableAnswer, TimedOut, Unreachable

# A streamed answer waiting for a slow client is held to about this much: beyond it the
# service's connection stops being read, so TCP holds the service back instead of the gateway.
STREAM_BUFFER_BYTES = 256 * 1024
# Below the services' keep-alive (75 s): the gateway drops an idle connection before the
# service does, so a request never lands on one being closed.
KEEPALIVE_SECONDS = 30.0
CONNECT_SECONDS = 5.0
# Methods whose request has no body unless one is given: they are sent without Content-Length.
_BODILESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
# What a request target or a header value may not hold: a line break would start a header (or a
# request) of the client's choosing; the target is one token of visible characters.
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")
_BAD_VALUE = re.compile(r"[\x00\r\n]")


class Origin:
    """Where a service listens, and the Host header its requests carry."""

    __slots__ = ("host", "host_header", "port", "tls")

    def __init__(self, netloc: str, tls: bool) -> None:
        parts = urlsplit(("https://" if tls else "http://") + netloc)
        if not parts.hostname:
            raise BadTarget(f"no host in {netloc!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if tls else 80)
        self.tls = tls
        self.host_header = netloc


class Http1Forwarder:
    """`gateway.proxy.Forwarder` in production."""

    def __init__(
        self,
        timeout_seconds: float,
        max_connections: int,
        *,
        connect_seconds: float = CONNECT_SECONDS,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        # A request beyond `max_connections` in use waits for one as long as an answer may
        # take, rather than being refused after a few seconds (1,000 transfer requests at once
        # were 18% 503s with a 5 s wait); opening a connection to a service that is away still
        # fails in `connect_seconds`. Either way nothing was sent, so the client may retry.
        self._timeout = timeout_seconds
        self._pool = _Pool(max_connections, timeout_seconds, connect_seconds, keepalive_seconds)
        self._origins: dict[str, Origin] = {}

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        origin, head = self._request_head(method, url, headers, body)
        # A GET may meet a kept connection the service closed a moment before: it is safe to
        # repeat on a new one.
        attempts = 2 if method == "GET" else 1
        for attempt in range(attempts):
            connection, reused = await self._pool.acquire(origin)
            exchange = connection.exchange(self._timeout)
            try:
                connection.write(head, body)
                return await exchange.answer
            except NoUsableAnswer:
                exchange.abandon()
                if reused and not exchange.answered_any and attempt + 1 < attempts:
                    continue
                raise
            except BaseException:
                exchange.abandon()  # cancelled mid-exchange: the connection's state is unknown
                raise
        raise AssertionError("unreachable")

    def _request_head(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[Origin, bytes]:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("http", "https"):
            raise BadTarget(f"not an http(s) URL: {url!r}")
        slash = rest.find("/")
        netloc, target = (rest, "/") if slash == -1 else (rest[:slash], rest[slash:])
        base = f"{scheme}://{netloc}"
        origin = self._origins.get(base)
        if origin is None:
            origin = self._origins[base] = Origin(netloc, scheme == "https")
        if _BAD_TARGET.search(target):
            raise BadTarget("the request target holds a space or a control character")
        lines = [f"Host: {origin.host_header}\r\n"]
        for name, value in headers.items():
            if _BAD_VALUE.search(value) or _BAD_VALUE.search(name):
                raise BadTarget(f"the {name} header holds a line break")
            lines.append(f"{name}: {value}\r\n")
        if body or method not in _BODILESS:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        try:
            # The target is the client's bytes read as latin-1 (gateway.api), written back as
            # they came; header values are the UTF-8 text of the client's bytes
            # (gateway.proxy.forwarded_headers), written as those bytes.
            request_line = f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
        except UnicodeEncodeError as exc:
            raise BadTarget("the request target is not bytes read as latin-1") from exc
        return origin, request_line + "".join(lines).encode("utf-8")

    async def close(self) -> None:
        self._pool.close()


class _Pool:
    """Kept connections by origin, newest first, and a bound on connections in use."""

    def __init__(
        self, limit: int, wait_seconds: float, connect_seconds: float, keepalive_seconds: float
    ) -> None:
        self._limit = limit
        self._wait_seconds = wait_seconds
        self._connect_seconds = connect_seconds
        self._keepalive_seconds = keepalive_seconds
        self._idle: dict[Origin, list[_Connection]] = {}
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._every: set[_Connection] = set()

    async def acquire(self, origin: Origin) -> tuple[_Connection, bool]:
        """A connection to `origin` and whether it was kept from an earlier exchange."""
        loop = asyncio.get_running_loop()
        if self._in_use >= self._limit:
            await self._wait_for_a_turn(loop)
        self._in_use += 1
        try:
            idle = self._idle.get(origin)
            now = loop.time()
            while idle:
                connection = idle.pop()
                if connection.usable and now - connection.idle_since < self._keepalive_seconds:
                    connection.in_use = True
                    return connection, True
                connection.close()
            connection = await self._open(loop, origin)
            connection.in_use = True
            return connection, False
        except BaseException:
            self._turn_over()
            raise

    async def _wait_for_a_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._in_use >= self._limit:
            turn: asyncio.Future[None] = loop.create_future()
            self._waiters.append(turn)
            try:
                await asyncio.wait_for(turn, self._wait_seconds)
            except BaseException as exc:
                # Given up (no turn in time, or the request was cancelled): a turn granted
                # meanwhile goes to the next request waiting.
                turn.cancel()
                self._pass_a_turn_on()
                if isinstance(exc, TimeoutError):
                    raise Unreachable("PoolTimeout") from exc
                raise

    async def _open(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_seconds):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, origin),
                    origin.host,
                    origin.port,
                    ssl=ssl.create_default_context() if origin.tls else None,
                )
        except (OSError, TimeoutError) as exc:
            raise Unreachable(type(exc).__name__) from exc
        self._every.add(connection)
        return connection

    def release(self, connection: _Connection, keep: bool) -> None:
        """An exchange is over: the connection is kept for the next one to its origin, or
        closed, and a request waiting for a turn gets it. Once an exchange, however it ended."""
        if not connection.in_use:
            return
        connection.in_use = False
        self._turn_over()
        if keep and connection.usable:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.setdefault(connection.origin, []).append(connection)
        else:
            connection.close()

    def forget(self, connection: _Connection) -> None:
        """The connection is closed (by either side)."""
        self._every.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)

    def _turn_over(self) -> None:
        self._in_use -= 1
        self._pass_a_turn_on()

    def _pass_a_turn_on(self) -> None:
        if self._in_use >= self._limit:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for connection in list(self._every):
            connection.close()
        self._idle.clear()


class _Connection(asyncio.Protocol):
    """One keep-alive connection to a service, one exchange at a time. httptools calls the
    `on_*` methods as it parses the answer."""

    def __init__(self, pool: _Pool, origin: Origin) -> None:
        self.origin = origin
        self.idle_since = 0.0
        self.in_use = False  # counted among the pool's connections in use
        self._pool = pool
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._exchange: _Exchange | None = None
        self._closed = False

    @property
    def usable(self) -> bool:
        transport = self._transport
        return not self._closed and transport is not None and not transport.is_closing()

    def exchange(self, timeout_seconds: float) -> _Exchange:
        self._exchange = _Exchange(self, timeout_seconds)
        return self._exchange

    def write(self, head: bytes, body: bytes) -> None:
        if self._transport is None or not self.usable:
            raise NoUsableAnswer("ServerDisconnectedError")
        self._transport.write(head + body if body else head)

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.close()
        self._closed = True

    def done(self, keep: bool) -> None:
        """The exchange is over: kept for the next one (`keep`), or closed."""
        self._exchange = None
        if not keep:
            self.close()
        self._pool.release(self, keep)

    def pause_reading(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.resume_reading()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        exchange = self._exchange
        if exchange is None:  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        exchange.heard()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            exchange.fail(NoUsableAnswer(type(exc).__name__))

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._pool.forget(self)
        exchange = self._exchange
        if exchange is not None:
            exchange.lost()
        self._pool.release(self, keep=False)

    # httptools' callbacks, passed on to the exchange under way
    def on_header(self, name: bytes, value: bytes) -> None:
        if self._exchange is not None:
            self._exchange.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._exchange is not None:
            self._exchange.head_complete(self._parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        if self._exchange is not None:
            self._exchange.body(body)

    def on_message_complete(self) -> None:
        if self._exchange is not None:
            self._exchange.complete(self._parser.should_keep_alive())


class _Exchange:
    """One request's answer as it arrives: whole (`answer` resolves at its end), or streamed
    (`answer` resolves at its head, the body follows through `Answer.stream`)."""

    def __init__(self, connection: _Connection, timeout_seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.answer: asyncio.Future[Answer] = loop.create_future()
        self.headers: list[tuple[bytes, bytes]] = []
        self.answered_any = False  # a byte of the answer came: the request reached the service
        self._connection = connection
        self._loop = loop
        self._timeout = timeout_seconds
        self._status = 0
        self._parts: list[bytes] = []
        self._length_known = False  # Content-Length or chunked: the end is not the close
        self._streamed = False
        self._buffered = 0
        self._paused = False
        self._arrived: asyncio.Future[None] | None = None  # the stream's reader waits on it
        self._ended = False
        self._failure: Exception | None = None
        self._last_heard = loop.time()
        self._timer: asyncio.TimerHandle | None = loop.call_later(timeout_seconds, self._check)

    def heard(self) -> None:
        self.answered_any = True
        self._last_heard = self._loop.time()

    def head_complete(self, status: int) -> None:
        self._status = status
        length = None
        chunked = False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = value
            elif lowered == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        self._length_known = length is not None or chunked
        if length is None and status == 200:
            self._streamed = True
            self.answer.set_result(Answer(status, self.headers, b"", self._stream()))

    def body(self, part: bytes) -> None:
        self._parts.append(part)
        if not self._streamed:
            return
        self._buffered += len(part)
        if self._buffered > STREAM_BUFFER_BYTES and not self._paused:
            self._paused = True
            self._connection.pause_reading()
        self._wake_reader()

    def complete(self, keep_alive: bool) -> None:
        self._ended = True
        self._stop_timer()
        if not self._streamed and not self.answer.done():
            self.answer.set_result(Answer(self._status, self.headers, b"".join(self._parts)))
        self._wake_reader()
        # The whole answer is here (a stream's rest waits in `_parts`): the connection is free.
        self._connection.done(keep_alive)

    def lost(self) -> None:
        """The connection closed before the answer was whole."""
        if self._ended:
            return
        if self._status and not self._length_known:
            self.complete(keep_alive=False)  # an answer that ends where its connection does
            return
        self.fail(NoUsableAnswer("ServerDisconnectedError"))

    def fail(self, failure: Exception) -> None:
        """No usable answer, or not in time: the connection is closed, its turn given back."""
        if self._ended:
            return
        self._ended = True
        self._stop_timer()
        if not self.answer.done():
            self.answer.set_exception(failure)
        else:
            self._failure = failure
            self._wake_reader()
        self._connection.done(keep=False)

    def abandon(self) -> None:
        """Nobody waits for the answer any more (the request was cancelled, or failed)."""
        if not self.answer.done():
            self.answer.cancel()
        if not self._ended:
            self._ended = True
            self._stop_timer()
            self._connection.done(keep=False)

    def _check(self) -> None:
        """The read timeout: no byte of the answer for `timeout` seconds (a paused stream is
        waiting for its reader, not for the service)."""
        quiet = self._loop.time() - self._last_heard
        if self._paused or quiet < self._timeout:
            wait = self._timeout if self._paused else self._timeout - quiet
            self._timer = self._loop.call_later(wait, self._check)
            return
        self._timer = None
        self.fail(TimedOut("SocketTimeoutError"))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake_reader(self) -> None:
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    async def _stream(self) -> AsyncGenerator[bytes, None]:
        """The streamed body as it arrives; abandoned before its end, the connection closes."""
        try:
            while True:
                if self._parts:
                    parts, self._parts = self._parts, []
                    self._buffered = 0
                    if self._paused and not self._ended:
                        self._paused = False
                        self._connection.resume_reading()
                    yield b"".join(parts)
                    continue
                if self._failure is not None:
                    raise self._failure
                if self._ended:
                    return
                self._arrived = self._loop.create_future()
                await self._arrived
        finally:
            if not self._ended:
                self.abandon()
