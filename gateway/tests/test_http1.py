"""The forwarding client against a scripted service on a real socket: what reaches the service,
what comes back, kept connections, streams, and each kind of failure as the gateway tells it
to the client (gateway.proxy.forwarding_problem)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from gateway.http1 import Http1Forwarder
from gateway.proxy import BadTarget, NoUsableAnswer, TimedOut, Unreachable

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]]


@dataclass
class Request:
    head: bytes
    body: bytes


@dataclass
class Service:
    """Reads requests and answers each with the next step of `script` (the last one repeats);
    a step returns False to stop reading that connection."""

    script: list[Script]
    port: int = 0
    connections: int = 0
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(Request(head, body))
                step = self.script[min(len(self.requests), len(self.script)) - 1]
                if not await step(reader, writer, body):
                    return
        finally:
            writer.close()


def answer(status: int = 200, body: bytes = b"{}", *extra: bytes) -> Script:
    async def step(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        head = [f"HTTP/1.1 {status} X".encode(), b"content-type: application/json", *extra]
        head.append(b"content-length: %d" % len(body))
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        return True

    return step


async def hang_up(*_: object) -> bool:
    return False


@contextlib.asynccontextmanager
async def running(*script: Script) -> AsyncIterator[Service]:
    service = Service(list(script))
    server = await asyncio.start_server(service.serve, "127.0.0.1", 0)
    service.port = server.sockets[0].getsockname()[1]
    try:
        yield service
    finally:
        server.close()


@contextlib.asynccontextmanager
async def forwarder(
    answer_within: float = 5.0, max_connections: int = 10
) -> AsyncIterator[Http1Forwarder]:
    client = Http1Forwarder(answer_within, max_connections)
    try:
        yield client
    finally:
        await client.close()


async def test_the_request_reaches_the_service_as_sent_and_its_answer_comes_back_whole() -> None:
    service_answer = answer(201, '{"名":"团员"}'.encode(), b"retry-after: 3")
    async with running(service_answer) as service, forwarder() as client:
        sent = await client.send(
            "POST",
            f"{service.url}/bills/1/payments?x=%E5%9B%A2",
            {"content-type": "application/json", "accept-language": "zh-CN"},
            b'{"channel":"cash"}',
        )
    assert sent.status == 201
    assert sent.body == '{"名":"团员"}'.encode()
    assert (b"retry-after", b"3") in sent.raw_headers
    assert sent.stream is None
    (seen,) = service.requests
    lines = seen.head.split(b"\r\n")
    assert lines[0] == b"POST /bills/1/payments?x=%E5%9B%A2 HTTP/1.1"
    assert f"Host: 127.0.0.1:{service.port}".encode() in lines
    assert b"accept-language: zh-CN" in lines
    assert b"Content-Length: 18" in lines
    assert seen.body == b'{"channel":"cash"}'


async def test_header_values_reach_the_service_as_the_clients_utf8_bytes() -> None:
    async with running(answer()) as service, forwarder() as client:
        await client.send("GET", f"{service.url}/x", {"idempotency-key": "缴费-1"}, b"")
    assert "idempotency-key: 缴费-1".encode() in service.requests[0].head


async def test_one_kept_connection_carries_requests_one_after_another() -> None:
    async with running(answer()) as service, forwarder() as client:
        for _ in range(5):
            assert (await client.send("GET", f"{service.url}/orgs", {}, b"")).status == 200
    assert len(service.requests) == 5
    assert service.connections == 1


async def test_requests_beyond_the_bound_wait_for_a_connection_in_use() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        await asyncio.sleep(0.05)
        return await answer()(reader, writer, body)

    async with running(slow) as service, forwarder(max_connections=2) as client:
        answers = await asyncio.gather(
            *(client.send("GET", f"{service.url}/orgs", {}, b"") for _ in range(6))
        )
    assert [a.status for a in answers] == [200] * 6
    assert service.connections == 2


async def test_a_get_meeting_a_connection_the_service_closed_is_repeated_on_a_new_one() -> None:
    # The service's keep-alive ran out just as the second request came: it closed unanswered.
    script = (answer(), hang_up, answer(body=b'{"again":true}'))
    async with running(*script) as service, forwarder() as client:
        await client.send("GET", f"{service.url}/orgs", {}, b"")
        second = await client.send("GET", f"{service.url}/orgs", {}, b"")
    assert second.body == b'{"again":true}'
    assert service.connections == 2


async def test_a_post_meeting_a_closed_connection_is_not_repeated() -> None:
    # It may have taken effect: the client hears 503 upstream_lost and may repeat it with an
    # Idempotency-Key, which the gateway cannot know it has.
    async with running(answer(), hang_up, answer()) as service, forwarder() as client:
        await client.send("GET", f"{service.url}/orgs", {}, b"")
        with pytest.raises(NoUsableAnswer):
            await client.send("POST", f"{service.url}/bills/1/payments", {}, b"{}")
    assert len(service.requests) == 2


async def test_a_streamed_answer_passes_on_as_it_arrives_and_frees_its_connection() -> None:
    rest_may_come = asyncio.Event()

    async def export(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst,\r\n")
        await writer.drain()
        await rest_may_come.wait()
        writer.write(b"5\r\nlast.\r\n0\r\n\r\n")
        await writer.drain()
        return True

    async with running(export, answer()) as service, forwarder() as client:
        streamed = await client.send("GET", f"{service.url}/members/export", {}, b"")
        assert streamed.status == 200 and streamed.stream is not None
        assert await anext(streamed.stream) == b"first,"  # before the service has finished
        rest_may_come.set()
        assert [chunk async for chunk in streamed.stream] == [b"last."]
        await client.send("GET", f"{service.url}/orgs", {}, b"")
    assert service.connections == 1


async def test_a_stream_given_up_before_its_end_closes_its_connection() -> None:
    async def endless(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(1000):
                writer.write(b"4\r\nrow,\r\n")
                await writer.drain()
                await asyncio.sleep(0.001)
        return False

    async with running(endless, answer()) as service, forwarder() as client:
        streamed = await client.send("GET", f"{service.url}/members/export", {}, b"")
        assert streamed.stream is not None
        await anext(streamed.stream)
        await streamed.stream.aclose()  # the client went away mid-download
        assert (await client.send("GET", f"{service.url}/orgs", {}, b"")).status == 200
    assert service.connections == 2


async def test_a_service_that_is_not_listening_is_unreachable() -> None:
    async with running(answer()) as service:
        url = service.url
    async with forwarder() as client:
        with pytest.raises(Unreachable):
            await client.send("POST", f"{url}/bills/1/payments", {}, b"{}")


async def test_a_service_that_does_not_answer_in_time_is_timed_out() -> None:
    async def silent(reader: asyncio.StreamReader, *_: object) -> bool:
        await reader.read()  # until the gateway gives up and closes
        return False

    async with running(silent) as service, forwarder(answer_within=0.2) as client:
        with pytest.raises(TimedOut):
            await client.send("GET", f"{service.url}/orgs", {}, b"")


async def test_an_answer_that_is_not_http_is_no_usable_answer() -> None:
    async def garbage(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        return True

    async with running(garbage) as service, forwarder() as client:
        with pytest.raises(NoUsableAnswer):
            await client.send("GET", f"{service.url}/orgs", {}, b"")


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/orgs HTTP/1.1\r\nx-league-caller: forged\r\n\r\nGET /orgs", {}),
        ("/orgs", {"accept-language": "zh\r\nx-league-caller: forged"}),
    ],
)
async def test_a_line_break_from_the_client_is_refused_not_sent(
    target: str, headers: dict[str, str]
) -> None:
    async with running(answer()) as service, forwarder() as client:
        with pytest.raises(BadTarget):
            await client.send("GET", f"{service.url}{target}", headers, b"")
        await asyncio.sleep(0.05)
    assert service.requests == []


async def test_a_request_that_gives_up_waiting_leaves_its_turn_to_the_next() -> None:
    held = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        await held.wait()
        return await answer()(reader, writer, body)

    async with running(hold, answer()) as service, forwarder(max_connections=1) as client:
        first = asyncio.create_task(client.send("GET", f"{service.url}/orgs", {}, b""))
        await asyncio.sleep(0.05)
        impatient = asyncio.create_task(client.send("GET", f"{service.url}/orgs", {}, b""))
        patient = asyncio.create_task(client.send("GET", f"{service.url}/orgs", {}, b""))
        await asyncio.sleep(0.05)
        impatient.cancel()  # its client went away while it waited for a connection
        held.set()
        assert (await first).status == 200
        assert (await asyncio.wait_for(patient, 5)).status == 200
