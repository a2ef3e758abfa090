"""Fixtures: a key pair, fake services served in-process, and a running gateway app."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.api import Gateway
from gateway.main import create_app
from gateway.settings import GatewaySettings
from shared.http import route_policy
from shared.settings import PlatformSettings
from shared.telemetry import in_memory_tracing

SECRET = "test-internal-secret"


@dataclass
class Org:
    id: uuid.UUID
    path: tuple[uuid.UUID, ...]
    revision: int = 1

    def body(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "parent_id": str(self.path[-2]) if len(self.path) > 1 else None,
            "path": [str(p) for p in self.path],
            "name": f"org {self.id}",
            "org_type": "branch" if len(self.path) > 2 else "committee",
            "status": "active",
            "revision": self.revision,
        }


@dataclass
class World:
    """What the fake services know, and what they saw."""

    orgs: dict[uuid.UUID, Org] = field(default_factory=dict)
    frozen: list[uuid.UUID] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)  # requests forwarded to public routes
    bodies: list[bytes] = field(default_factory=list)
    internal: list[Request] = field(default_factory=list)  # the gateway's own calls
    org_lookups: list[str] = field(default_factory=list)
    down: set[str] = field(default_factory=set)
    windows: list[dict[str, str]] = field(default_factory=list)  # read-only maintenance
    unread: int = 0  # the inbox's unread count activities answers
    unread_asked: list[Request] = field(default_factory=list)

    def add(self, *path: uuid.UUID) -> Org:
        org = Org(path[-1], tuple(path))
        self.orgs[org.id] = org
        return org


def _echo(world: World) -> Callable[[Request], Any]:
    async def echo(request: Request) -> dict[str, Any]:
        world.seen.append(request)
        world.bodies.append(await request.body())
        return {"path": request.url.path, "query": request.url.query}

    return echo


def identity_app(world: World) -> FastAPI:
    app = FastAPI()
    echo = _echo(world)
    app.add_api_route(
        "/auth/login", echo, methods=["POST"], openapi_extra=route_policy(public=True)
    )
    app.add_api_route(
        "/auth/password", echo, methods=["POST"], openapi_extra=route_policy(any_status=True)
    )
    app.add_api_route("/me", echo, methods=["GET"], openapi_extra=route_policy(any_status=True))
    app.add_api_route(
        "/orgs/{id}/security-check",
        echo,
        methods=["GET"],
        openapi_extra=route_policy(org_param="id"),
    )
    app.add_api_route("/admin-applications/{id}/approve", echo, methods=["POST"])

    @app.get("/internal/accounts/frozen", include_in_schema=False)
    async def frozen(request: Request) -> dict[str, Any]:
        world.internal.append(request)
        return {"items": [str(a) for a in world.frozen]}

    return app


def activities_app(world: World) -> FastAPI:
    app = FastAPI()
    echo = _echo(world)
    app.add_api_route(
        "/announcements/{id}/withdraw", echo, methods=["POST"], openapi_extra=route_policy()
    )

    @app.get("/me/notifications/unread-count", include_in_schema=False)
    async def unread(request: Request) -> dict[str, Any]:
        world.unread_asked.append(request)
        return {"unread": world.unread}

    @app.get("/internal/maintenance-windows", include_in_schema=False)
    async def windows() -> dict[str, Any]:
        return {"items": world.windows}

    return app


def org_app(world: World) -> FastAPI:
    app = FastAPI()
    echo = _echo(world)
    either = route_policy(org_param="org_id", allow="admin_or_member")
    app.add_api_route("/orgs/{org_id}", echo, methods=["GET"], openapi_extra=either)
    app.add_api_route("/orgs/{org_id}/children", echo, methods=["GET"], openapi_extra=either)
    app.add_api_route(
        "/orgs/{org_id}", echo, methods=["PATCH"], openapi_extra=route_policy(org_param="org_id")
    )

    @app.post("/documents")
    async def upload(request: Request) -> Response:
        world.seen.append(request)
        world.bodies.append(await request.body())
        return Response(
            b"%PDF-",
            status_code=201,
            media_type="application/pdf",
            headers={
                "Location": "/documents/1",
                "Content-Disposition": 'attachment; filename="a.pdf"',
                "Retry-After": "7",
                "Set-Cookie": "upstream=1",
                "X-Internal": "leak",
            },
        )

    @app.get("/internal/orgs", include_in_schema=False)
    async def all_orgs() -> dict[str, Any]:
        return {"items": [o.body() for o in world.orgs.values()]}

    @app.get("/internal/orgs/{org_id}", include_in_schema=False)
    async def one_org(org_id: uuid.UUID, request: Request) -> Any:
        world.internal.append(request)
        world.org_lookups.append(str(org_id))
        org = world.orgs.get(org_id)
        if org is None:
            return JSONResponse({"code": "org.not_found"}, status_code=404)
        return org.body()

    return app


def members_app(world: World) -> FastAPI:
    app = FastAPI()
    app.add_api_route(
        "/orgs/{branch_id}/members",
        _echo(world),
        methods=["POST"],
        openapi_extra=route_policy(org_param="branch_id"),
    )
    return app


async def _ready() -> dict[str, str]:
    return {"status": "ready"}


class Services(httpx.AsyncBaseTransport):
    """Routes the gateway's calls by port to in-process apps; a service named in `world.down`
    (or a port without an app) refuses connections."""

    def __init__(self, world: World, apps: dict[int, tuple[str, FastAPI]]) -> None:
        self.world = world
        for _, app in apps.values():
            app.add_api_route("/readyz", _ready, methods=["GET"], include_in_schema=False)
        self.apps = {port: (name, httpx.ASGITransport(app)) for port, (name, app) in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        port = urlsplit(str(request.url)).port or 80
        entry = self.apps.get(port)
        if entry is None or entry[0] in self.world.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await entry[1].handle_async_request(request)


@dataclass
class Keys:
    private: Ed25519PrivateKey
    public_file: Path

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(uuid.uuid4()),
            "role": "admin",
            "org": str(uuid.uuid4()),
            "mid": None,
            "usr": "someone",
            "pcr": False,
            "iat": now,
            "exp": now + 900,
            "jti": str(uuid.uuid4()),
        }
        claims.update(overrides)
        return jwt.encode(claims, self.private, algorithm="EdDSA")

    def auth(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**claims)}"}

    def admin_of(self, org: Org, **claims: Any) -> dict[str, str]:
        return self.auth(role="admin", org=str(org.id), **claims)

    def member_of(self, branch: Org, **claims: Any) -> dict[str, str]:
        return self.auth(role="member", org=str(branch.id), mid=str(uuid.uuid4()), **claims)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_file = tmp_path / "jwt-public.pem"
    public_file.write_bytes(pem)
    return Keys(private, public_file)


@dataclass(frozen=True)
class Tree:
    """root → city → (branch_a, branch_b), known to the gateway from org's snapshot."""

    root: Org
    city: Org
    branch_a: Org
    branch_b: Org


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def tree(world: World) -> Tree:
    root = world.add(uuid.uuid4())
    city = world.add(root.id, uuid.uuid4())
    return Tree(
        root=root,
        city=city,
        branch_a=world.add(*city.path, uuid.uuid4()),
        branch_b=world.add(*city.path, uuid.uuid4()),
    )


@pytest.fixture
def settings(keys: Keys) -> GatewaySettings:
    return GatewaySettings(
        jwt_public_key_file=keys.public_file,
        platform=PlatformSettings(internal_secret=SECRET),
        # The API alone (tests/test_console.py serves a console of its own).
        console_dir=keys.public_file.parent / "no-console",
    )


@dataclass
class Running:
    client: httpx.AsyncClient
    gateway: Gateway
    spans: InMemorySpanExporter


@pytest.fixture
def services(world: World) -> Services:
    """identity, org and members with a few routes; the others answer with none."""
    return Services(
        world,
        {
            8101: ("identity", identity_app(world)),
            8102: ("org", org_app(world)),
            8103: ("members", members_app(world)),
            8104: ("fees", FastAPI()),
            8105: ("activities", activities_app(world)),
            8106: ("transfers", FastAPI()),
        },
    )


@pytest.fixture
async def running(
    services: Services, tree: Tree, settings: GatewaySettings
) -> AsyncIterator[Running]:
    provider, spans = in_memory_tracing("gateway-test")
    app = create_app(settings, transport=services, tracer_provider=provider, events=False)
    async with app.router.lifespan_context(app):
        gateway: Gateway = app.state.gateway
        await gateway.catalog.fetch_missing(min_interval=0)
        await gateway.feed.load_snapshots()
        await gateway.feed.load_windows()
        transport = httpx.ASGITransport(app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Running(client, gateway, spans)
