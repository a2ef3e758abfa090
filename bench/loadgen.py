"""A lean HTTP/1.1 load client: keep-alive connections on one asyncio loop, timing every request.

httpx spends more CPU per request than the servers it would measure; on a 2-core machine that
would hide the very milliseconds the benchmarks look for. This client writes a prepared request
and reads the answer by Content-Length (or chunks), nothing more, so one loop can keep 32
connections busy while costing the servers little of the CPU they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Figures:
    """What a load run measured: latencies in ms and the rate the whole run achieved."""

    label: str
    clients: int
    latencies_ms: list[float]
    seconds: float

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def mean(self) -> float:
        return statistics.mean(self.latencies_ms)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in this process while it times requests.

    With a run's prepared requests in memory, a full collection here took 20-30 ms: every
    request due meanwhile was sent late and counted as slow against whichever server was
    measured. What a run allocates in between is small; it is collected when the run ends.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = b""
        return status, body

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


def prepare_get(url: str, headers: Mapping[str, str] | None = None) -> tuple[str, int, bytes]:
    return prepare("GET", url, headers)


async def _load(
    url: str,
    headers: Mapping[str, str] | None,
    clients: int,
    requests: int,
    warmup: int,
) -> tuple[list[float], float]:
    host, port, raw = prepare_get(url, headers)
    connections = [await Connection.open(host, port) for _ in range(clients)]
    latencies: list[float] = []
    remaining = warmup

    async def client(conn: Connection, record: bool) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            status, body = await conn.request(raw)
            if status != 200:
                raise SystemExit(f"{url}: {status} {body[:200]!r}")
            if record:
                latencies.append((time.perf_counter() - started) * 1000)

    try:
        await asyncio.gather(*(client(c, record=False) for c in connections))
        remaining = requests
        started = time.perf_counter()
        await asyncio.gather(*(client(c, record=True) for c in connections))
        return latencies, time.perf_counter() - started
    finally:
        for conn in connections:
            conn.close()


def load(
    label: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    clients: int = 1,
    requests: int = 2000,
    warmup: int = 200,
) -> Figures:
    """`requests` GETs of `url` over `clients` keep-alive connections, after `warmup` of them."""
    with collector_paused():
        latencies, seconds = asyncio.run(_load(url, headers, clients, requests, warmup))
    return Figures(label, clients, latencies, seconds)


def prepare(
    method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes = b""
) -> tuple[str, int, bytes]:
    """A request's bytes, ready to write on a keep-alive connection."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    return parts.hostname or "127.0.0.1", parts.port or 80, raw


MAX_IN_FLIGHT = 1000  # beyond, an open-model client counts requests as failed, not queued


@dataclass
class OpenFigures:
    """An open-model run: requests sent at a fixed rate whatever the answers took."""

    label: str
    offered: float  # requests a second sent
    latencies_ms: list[float]  # of the answers that succeeded, from when each was due
    errors: int
    seconds: float  # from the first request's due time to the last answer
    # Over every request sent, warm-ups included (what a money check compares with): answered
    # as expected, and those whose outcome the client cannot know (no answer in time, the
    # connection lost, a 5xx: the server may have acted on it all the same).
    succeeded_all: int = 0
    unknown_all: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99) if self.latencies_ms else float("nan")


async def _open_load(
    host: str,
    port: int,
    requests: list[bytes],
    rate: float,
    expect: int,
    answer_within: float,
    warmup: int,
) -> tuple[list[float], int, float, list[str], dict[str, int]]:
    idle = [await Connection.open(host, port) for _ in range(32)]
    measured: list[float] = []
    failed: list[str] = []
    outcomes = {"succeeded": 0, "unknown": 0}

    in_flight = 0

    async def one(raw: bytes, due: float, record: bool) -> None:
        nonlocal in_flight
        latencies, errors = (measured, failed) if record else ([], [])
        if in_flight >= MAX_IN_FLIGHT:  # the server is far behind: this one is not even sent
            errors.append("not sent: too many requests in flight")
            return
        in_flight += 1
        # A server may close a connection that stood idle (its keep-alive timeout): a client
        # then opens a new one, as any HTTP client does.
        while idle and idle[-1].reader.at_eof():
            idle.pop().close()
        conn = idle.pop() if idle else None
        try:
            if conn is None:
                conn = await asyncio.wait_for(Connection.open(host, port), answer_within)
            status, body = await asyncio.wait_for(conn.request(raw), answer_within)
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            if conn is not None:
                conn.close()  # its answer may still come: the connection is spent
            errors.append(type(exc).__name__)
            outcomes["unknown"] += 1
            return
        finally:
            in_flight -= 1
        idle.append(conn)
        if status == expect:
            latencies.append((time.perf_counter() - due) * 1000)
            outcomes["succeeded"] += 1
        else:
            errors.append(f"{status} {body[:120]!r}")
            if status >= 500:  # a 4xx was refused: known not to have acted
                outcomes["unknown"] += 1

    begun = time.perf_counter()
    started = begun + warmup / rate  # the first measured request's due time
    tasks = []
    for i, raw in enumerate(requests):
        # Each request goes at its own time, late answers or not (no coordinated omission):
        # its latency counts from then, so waiting for a connection is counted too.
        due = begun + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(raw, due, record=i >= warmup)))
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    for conn in idle:
        conn.close()
    return measured, len(failed), seconds, failed[:3], outcomes


def open_load(
    label: str,
    host: str,
    port: int,
    requests: list[bytes],
    rate: float,
    *,
    expect: int = 201,
    timeout: float = 10.0,
    warmup: int = 0,
) -> OpenFigures:
    """`requests` (prepared with `prepare`) sent at `rate` a second over keep-alive connections,
    as many as are in flight; an answer other than `expect`, or none within `timeout`, is an
    error. The first `warmup` are sent at the same rate but not counted."""
    with collector_paused():
        latencies, errors, seconds, samples, outcomes = asyncio.run(
            _open_load(host, port, requests, rate, expect, timeout, warmup)
        )
    for sample in samples:
        print(f"  {label} at {rate:.0f}/s: error {sample}")
    return OpenFigures(
        label, rate, latencies, errors, seconds, outcomes["succeeded"], outcomes["unknown"]
    )
