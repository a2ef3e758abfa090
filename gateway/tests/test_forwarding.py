"""Forwarding: the signed caller, the headers that pass either way, limits and failures."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from shared.caller import SYSTEM_CALLER, verify_caller


async def test_forwarded_caller_is_signed_with_the_internal_secret(
    running, keys, tree, world
) -> None:
    account, member = uuid.uuid4(), uuid.uuid4()
    headers = keys.auth(
        sub=str(account), role="member", org=str(tree.branch_a.id), mid=str(member), usr="li"
    )
    assert (await running.client.get("/api/v1/me", headers=headers)).status_code == 200
    seen = world.seen[0].headers
    secret = running.gateway.settings.platform.internal_secret
    caller = verify_caller(seen["x-league-caller"], seen["x-league-caller-signature"], secret)
    assert caller.account_id == account
    assert caller.role == "member"
    assert caller.org_id == tree.branch_a.id
    assert caller.member_id == member
    assert caller.username == "li"


async def test_client_sent_league_headers_are_stripped(running, keys, world) -> None:
    forged = {
        "x-league-caller": "eyJyb2xlIjoic3lzdGVtIn0=",
        "x-league-caller-signature": "0" * 64,
        "x-league-anything": "1",
    }
    await running.client.post("/api/v1/auth/login", headers=forged, json={})
    await running.client.get("/api/v1/me", headers={**forged, **keys.auth()})
    anonymous, authenticated = (r.headers for r in world.seen)
    assert not any(name.startswith("x-league") for name in anonymous)
    secret = running.gateway.settings.platform.internal_secret
    caller = verify_caller(
        authenticated["x-league-caller"], authenticated["x-league-caller-signature"], secret
    )
    assert caller.role == "admin"
    assert "x-league-anything" not in authenticated


async def test_only_allow_listed_request_headers_pass(running, keys, world) -> None:
    await running.client.post(
        "/api/v1/auth/login",
        content=b'{"a":1}',
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Language": "zh-CN",
            "Idempotency-Key": "k-1",
            "Cookie": "session=secret",
            "X-Forwarded-For": "10.0.0.1",
        },
    )
    seen = world.seen[0].headers
    assert seen["content-type"] == "application/json"
    assert seen["accept"] == "application/json"
    assert seen["accept-language"] == "zh-CN"
    assert seen["idempotency-key"] == "k-1"
    assert "cookie" not in seen
    assert "x-forwarded-for" not in seen


async def test_method_path_query_and_body_are_forwarded(running, world) -> None:
    response = await running.client.post(
        "/api/v1/auth/login?next=%2Fme&a=1", content=b"raw body bytes"
    )
    assert response.json() == {"path": "/auth/login", "query": "next=%2Fme&a=1"}
    assert world.bodies == [b"raw body bytes"]


async def test_upstream_status_body_and_selected_headers_come_back(running, keys) -> None:
    response = await running.client.post("/api/v1/documents", headers=keys.auth(), content=b"x")
    assert response.status_code == 201
    assert response.content == b"%PDF-"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["location"] == "/documents/1"
    assert response.headers["content-disposition"] == 'attachment; filename="a.pdf"'
    assert response.headers["retry-after"] == "7"
    assert "set-cookie" not in response.headers
    assert "x-internal" not in response.headers


async def test_declared_body_over_the_limit_is_413(running, keys, world) -> None:
    limit = running.gateway.settings.max_body_bytes
    response = await running.client.post(
        "/api/v1/documents", headers=keys.auth(), content=b"x" * (limit + 1)
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"
    assert world.seen == []


async def test_streamed_body_over_the_limit_is_413(running, keys, world) -> None:
    limit = running.gateway.settings.max_body_bytes
    chunk = b"x" * (1024 * 1024)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(limit // len(chunk) + 1):
            yield chunk

    response = await running.client.post("/api/v1/documents", headers=keys.auth(), content=body())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"
    assert world.seen == []


async def test_body_at_the_limit_is_forwarded(running, keys, world) -> None:
    limit = running.gateway.settings.max_body_bytes
    response = await running.client.post(
        "/api/v1/documents", headers=keys.auth(), content=b"x" * limit
    )
    assert response.status_code == 201
    assert len(world.bodies[0]) == limit


async def test_service_that_refuses_connections_is_503(running, keys, world) -> None:
    world.down.add("identity")
    response = await running.client.get("/api/v1/me", headers=keys.auth())
    assert response.status_code == 503
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert (body["code"], body["service"]) == ("gateway.service_unavailable", "identity")


async def test_every_answer_carries_the_trace_id_that_reaches_the_service(
    running, keys, world
) -> None:
    forwarded = await running.client.get("/api/v1/me", headers=keys.auth())
    trace_id = forwarded.headers["x-trace-id"]
    assert len(trace_id) == 32
    assert world.seen[0].headers["traceparent"].split("-")[1] == trace_id
    for problem in (
        await running.client.get("/api/v1/nothing"),
        await running.client.get("/api/v1/me"),
        await running.client.get("/nowhere"),
    ):
        assert problem.status_code in (401, 404)
        assert len(problem.headers["x-trace-id"]) == 32
    server_spans = [s for s in running.spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert trace_id in {format(s.context.trace_id, "032x") for s in server_spans}


async def test_snapshots_are_fetched_as_the_signed_system_caller(running, world) -> None:
    secret = running.gateway.settings.platform.internal_secret
    request = world.internal[0]
    caller = verify_caller(
        request.headers["x-league-caller"], request.headers["x-league-caller-signature"], secret
    )
    assert caller == SYSTEM_CALLER


async def test_healthz_answers_while_services_are_down(running, world) -> None:
    world.down.update({"identity", "org"})
    response = await running.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_metrics_count_forwarded_requests_by_route_template(running) -> None:
    await running.client.get("/api/v1/nothing")
    response = await running.client.get("/metrics")
    assert response.status_code == 200
    # The template, never the raw path: one series for every forwarded request.
    assert 'route="/api/v1/{path:path}"' in response.text
    assert "/api/v1/nothing" not in response.text


async def test_readyz_lists_what_is_not_ready(running, world) -> None:
    world.down.add("fees")
    response = await running.client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "ops.not_ready"
    # events=False in tests: there is no broker consumer, which readiness must report.
    assert set(body["not_ready"]) >= {"fees", "gateway.events"}
    assert "org" not in body["not_ready"]


async def test_readyz_is_200_when_everything_answers(running) -> None:
    running.gateway.feed.consuming = True  # stands for the broker consumer tests do not start
    response = await running.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_a_service_down_does_not_take_the_gateway_itself_out_of_rotation(
    running, world
) -> None:
    running.gateway.feed.consuming = True
    world.down.add("fees")
    assert (await running.client.get("/readyz")).status_code == 503  # the system is not whole
    own = await running.client.get("/readyz", params={"scope": "self"})  # a cluster's probe
    assert own.status_code == 200 and own.json() == {"status": "ready"}
    running.gateway.feed.consuming = False
    lost = await running.client.get("/readyz", params={"scope": "self"})
    assert lost.status_code == 503 and lost.json()["not_ready"] == ["gateway.events"]


async def test_non_ascii_header_bytes_reach_the_service_unchanged(running, world) -> None:
    raw = "zh-CN,中文".encode()
    response = await running.client.post(
        "/api/v1/auth/login", headers={"Accept-Language": raw}, json={}
    )
    assert response.status_code == 200
    assert dict(world.seen[0].headers.raw)[b"accept-language"] == raw


async def test_a_head_request_is_answered_like_a_get_without_a_body(running, keys) -> None:
    r = await running.client.head("/api/v1/me", headers=keys.auth())
    assert r.status_code == 200 and r.content == b""


async def test_nothing_but_public_routes_is_served_before_the_frozen_list_is_known(
    running, keys
) -> None:
    running.gateway.feed.frozen_loaded = False
    r = await running.client.get("/api/v1/me", headers=keys.auth())
    assert r.status_code == 503 and r.json()["code"] == "gateway.starting"
    assert (await running.client.post("/api/v1/auth/login", json={})).status_code != 503


def test_every_passing_failure_of_a_service_is_503_with_retry_after() -> None:
    from gateway.proxy import BadTarget, NoUsableAnswer, TimedOut, Unreachable, forwarding_problem

    answers = {
        kind.__name__: forwarding_problem("members", kind("x"))
        for kind in (Unreachable, TimedOut, NoUsableAnswer)
    }
    assert {name: (p.status, p.code) for name, p in answers.items()} == {
        "Unreachable": (503, "gateway.service_unavailable"),
        "TimedOut": (503, "gateway.upstream_timeout"),
        "NoUsableAnswer": (503, "gateway.upstream_lost"),  # the service died under the request
    }
    assert all(p.headers == {"Retry-After": "1"} for p in answers.values())
    assert forwarding_problem("members", BadTarget("x")).status == 400
