"""The gateway's routes: the checked forward of /api/v1, readiness, and the merged OpenAPI."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import Match, Route
from starlette.types import Scope as AsgiScope

from gateway import compose
from gateway.auth import Claims, TokenVerifier, bearer_token, not_authenticated
from gateway.handlers import StateFeed
from gateway.maintenance import check_writable
from gateway.openapi import PREFIX, TITLE, public_contract
from gateway.proxy import Upstreams, check_declared_length, read_body
from gateway.ratelimit import RateLimiter
from gateway.routes import Policy, RouteCatalog
from gateway.scope import FrozenAccounts, Scope
from gateway.settings import GatewaySettings
from shared.caller import Caller
from shared.lane import PlainRoute
from shared.problems import Problem

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

router = APIRouter()


@dataclass
class Gateway:
    """What the routes need, built once per process by the app's lifespan."""

    settings: GatewaySettings
    upstreams: Upstreams
    catalog: RouteCatalog
    scope: Scope
    frozen: FrozenAccounts
    verifier: TokenVerifier
    limiter: RateLimiter
    feed: StateFeed


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _service_path(request: Request) -> str:
    """The path to forward, as the client encoded it, without the /api/v1 prefix."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(request.scope["path"])
    path = path.split("?", 1)[0]
    if not path.startswith(PREFIX + "/"):
        # Only an encoded prefix (/api%2Fv1/...) gets here: no route is meant by it.
        raise Problem(404, "route.not_found", "No route has this path.")
    return path[len(PREFIX) :]


def _authorize(gateway: Gateway, policy: Policy, claims: Claims | None) -> Caller:
    if claims is None:
        raise not_authenticated()
    if not gateway.feed.frozen_loaded:
        # Until the gateway knows which accounts are frozen, a frozen account's token would pass.
        raise Problem(
            503,
            "gateway.starting",
            "The gateway is starting; try again in a moment.",
            headers={"Retry-After": "2"},
        )
    if claims.account_id in gateway.frozen:
        raise Problem(403, "auth.frozen", "This account is frozen.")
    if claims.password_change_required and not policy.any_status:
        raise Problem(
            403,
            "auth.password_change_required",
            "Change your password before doing anything else.",
        )
    return claims.caller()


async def forward(request: Request) -> Response:
    gateway = _gateway(request)
    # Cheap refusals first: nothing is read or verified for a body declared too large.
    check_declared_length(request, gateway.settings.max_body_bytes)
    path = _service_path(request)
    match = await gateway.catalog.match(request.method, path)
    check_writable(gateway.feed.windows, request.method, path)
    policy = match.operation.policy

    claims: Claims | None = None
    token_problem: Problem | None = None
    try:
        token = bearer_token(request.headers.get("authorization"))
        if token is not None:
            claims = gateway.verifier.verify(token)
    except Problem as problem:
        token_problem = problem
    # Limit before answering a bad token, so guessing tokens is limited too.
    address = request.client.host if request.client else "unknown"
    gateway.limiter.check(f"account:{claims.account_id}" if claims else f"address:{address}")

    caller: Caller | None = None
    if policy.public:
        # A public route works with or without a token; a usable one still tells who calls.
        if claims is not None and claims.account_id not in gateway.frozen:
            caller = claims.caller()
    else:
        if token_problem is not None:
            raise token_problem
        caller = _authorize(gateway, policy, claims)
        await gateway.scope.check(caller, policy, match.params)

    body = await read_body(request, gateway.settings.max_body_bytes)
    if path == compose.ME and caller is not None:
        secret = gateway.settings.platform.internal_secret
        return await compose.me(gateway.upstreams, request, body, caller, secret)
    return await gateway.upstreams.forward(request, match.operation.service, path, body, caller)


class ProxyRoute(Route):
    """A plain Starlette route: FastAPI's own request handling (dependencies, body and response
    models, none of which a proxy uses) was a seventh of the gateway's CPU per request. It names
    itself in the scope as FastAPI's routes do, so metrics and spans carry its template."""

    def matches(self, scope: AsgiScope) -> tuple[Match, AsgiScope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


PROXY_ROUTE = ProxyRoute(PREFIX + "/{path:path}", forward, methods=METHODS)

# Forwarded requests go straight to `forward`, past FastAPI's middleware stack and router (error
# middleware, exception middleware, exit stack, then every route matched before the proxy's): a
# third of the gateway's CPU per request, for a route that uses none of it (shared.lane).
FORWARD_FIRST = [PlainRoute(PROXY_ROUTE)]


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request, scope: Literal["system", "self"] = "system") -> dict[str, str]:
    """Ready when every service answers its own /readyz and the gateway's state is loaded
    (what `make up` and the tests wait for); with `?scope=self`, the gateway's own state only:
    a cluster's probe, since one service being down must not take every gateway pod out of
    rotation (the other services' routes go on answering, that one's with 503)."""
    gateway = _gateway(request)
    services = list(gateway.upstreams.services) if scope == "system" else []

    async def service_ready(service: str) -> bool:
        try:
            response = await gateway.upstreams.system_get(service, "/readyz", time_limit=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    answers = await asyncio.gather(*(service_ready(s) for s in services))
    not_ready = [s for s, ok in zip(services, answers, strict=True) if not ok]
    if scope == "system":
        not_ready += [f"gateway.routes.{s}" for s in gateway.catalog.missing]
    feed = gateway.feed
    checks = {
        "gateway.events": feed.consuming,
        "gateway.org_snapshot": feed.orgs_loaded,
        "gateway.frozen_snapshot": feed.frozen_loaded,
        "gateway.token_key": gateway.verifier.ready,
    }
    not_ready += [name for name, ok in checks.items() if not ok]
    if not_ready:
        raise Problem(503, "ops.not_ready", "Not every part is ready.", not_ready=not_ready)
    return {"status": "ready"}


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    catalog = _gateway(request).catalog
    await catalog.fetch_missing()
    # A copy: the answers are added in place, and the catalog keeps the services' own documents.
    document = public_contract(copy.deepcopy(catalog.ordered_documents()))
    if catalog.missing:
        # A partial document must not pass for the whole API.
        document["x-unavailable-services"] = catalog.missing
    return JSONResponse(document)


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=TITLE)
