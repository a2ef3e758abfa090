"""Route matching: literal segments first, 404 for unknown paths, 405 for unknown methods."""

from __future__ import annotations

import httpx
import pytest

from gateway.proxy import Upstreams
from gateway.routes import (
    MethodNotAllowed,
    Operation,
    Policy,
    RouteCatalog,
    RouteNotFound,
    RouteTable,
    operations_from_openapi,
)
from gateway.settings import GatewaySettings
from shared.http import route_policy
from shared.problems import Problem


def _table() -> RouteTable:
    table = RouteTable()
    org = [
        Operation("org", "GET", "/orgs/{org_id}", Policy(org_param="org_id")),
        Operation("org", "PATCH", "/orgs/{org_id}", Policy(org_param="org_id")),
        Operation("org", "GET", "/orgs/{org_id}/children", Policy(org_param="org_id")),
    ]
    identity = [
        Operation("identity", "GET", "/orgs/{id}/security-check", Policy(org_param="id")),
        Operation("identity", "POST", "/admin-applications/{id}/approve", Policy()),
        Operation("identity", "GET", "/admin-applications/pending", Policy()),
        Operation("identity", "GET", "/admin-applications/{id}", Policy()),
    ]
    order = ["identity", "org"]
    table.load("org", org, order)
    table.load("identity", identity, order)
    return table


def test_literal_segment_beats_parameter_across_services() -> None:
    match = _table().match("GET", "/orgs/abc/security-check")
    assert match.operation.service == "identity"
    assert match.params == {"id": "abc"}


def test_parameter_route_of_other_service_still_matches() -> None:
    table = _table()
    assert table.match("GET", "/orgs/abc/children").operation.service == "org"
    match = table.match("GET", "/orgs/abc")
    assert (match.operation.service, match.params) == ("org", {"org_id": "abc"})


def test_literal_last_segment_beats_parameter() -> None:
    table = _table()
    assert table.match("GET", "/admin-applications/pending").operation.template == (
        "/admin-applications/pending"
    )
    assert table.match("GET", "/admin-applications/x1").params == {"id": "x1"}
    assert table.match("POST", "/admin-applications/x1/approve").operation.method == "POST"


def test_unknown_path_is_not_found() -> None:
    with pytest.raises(RouteNotFound):
        _table().match("GET", "/orgs/abc/nothing-here")


def test_known_path_with_wrong_method_lists_allowed_methods() -> None:
    with pytest.raises(MethodNotAllowed) as raised:
        _table().match("DELETE", "/orgs/abc")
    assert raised.value.allowed == ["GET", "PATCH"]


def test_head_is_answered_by_the_get_route() -> None:
    assert _table().match("HEAD", "/orgs/abc").operation.method == "GET"


@pytest.mark.parametrize("path", ["/orgs/abc/", "/orgs//children", "/orgs/a%2Fb", "orgs/abc"])
def test_paths_the_service_would_read_differently_are_not_found(path: str) -> None:
    with pytest.raises(RouteNotFound):
        _table().match("GET", path)


def test_percent_encoded_parameter_is_decoded() -> None:
    assert _table().match("GET", "/orgs/a%20b").params == {"org_id": "a b"}


def test_first_service_in_order_keeps_a_duplicate_route() -> None:
    table = RouteTable()
    table.load("b", [Operation("b", "GET", "/x", Policy())], ["a", "b"])
    table.load("a", [Operation("a", "GET", "/x", Policy())], ["a", "b"])
    assert table.match("GET", "/x").operation.service == "a"


def test_policy_is_read_from_the_openapi_extension() -> None:
    document = {
        "paths": {
            "/orgs/{org_id}": {
                "get": {"operationId": "a", **route_policy(org_param="org_id", any_status=True)},
                "parameters": [],
            },
            "/auth/login": {"post": route_policy(public=True)},
            "/me": {"get": {"operationId": "me"}},
        }
    }
    ops = {(o.method, o.template): o.policy for o in operations_from_openapi("s", document)}
    assert ops == {
        ("GET", "/orgs/{org_id}"): Policy(any_status=True, org_param="org_id"),
        ("POST", "/auth/login"): Policy(public=True),
        ("GET", "/me"): Policy(),
    }


def test_malformed_policy_means_authenticated() -> None:
    assert Policy.from_extension("public") == Policy()
    assert Policy.from_extension({"public": "yes", "allow": "anyone"}) == Policy()


async def test_gateway_answers_unknown_path_with_route_not_found(running) -> None:
    response = await running.client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "route.not_found"


async def test_gateway_answers_path_outside_api_with_route_not_found(running) -> None:
    response = await running.client.get("/elsewhere")
    assert response.status_code == 404
    assert response.json()["code"] == "route.not_found"


async def test_gateway_answers_wrong_method_with_405(running, keys) -> None:
    response = await running.client.delete("/api/v1/me", headers=keys.auth())
    assert response.status_code == 405
    assert response.json()["code"] == "route.method_not_allowed"
    assert response.headers["allow"] == "GET"


async def test_service_that_comes_up_later_is_routed_on_a_later_request(world, services) -> None:
    now = [0.0]
    world.down.add("members")
    async with httpx.AsyncClient(transport=services) as client:
        upstreams = Upstreams(client, GatewaySettings().services, "secret")
        catalog = RouteCatalog(upstreams, clock=lambda: now[0])
        await catalog.fetch_missing(min_interval=0)
        # While members is unknown, a path nobody else serves may be one of its routes.
        with pytest.raises(Problem) as raised:
            await catalog.match("POST", "/orgs/x/members")
        assert (raised.value.status, raised.value.code) == (503, "gateway.service_unavailable")
        assert raised.value.extra["services"] == ["members"]

        world.down.clear()
        now[0] += 2.0
        match = await catalog.match("POST", "/orgs/x/members")
        assert match.operation.service == "members"
        assert match.params == {"branch_id": "x"}


@pytest.mark.parametrize(
    "path", ["/orgs/x/../y", "/admin-applications/./approve", "/orgs/./children"]
)
def test_dot_segments_match_no_route(path: str) -> None:
    # httpx would resolve them when forwarding: the route checked must be the route served.
    with pytest.raises(RouteNotFound):
        _table().match("GET", path)
