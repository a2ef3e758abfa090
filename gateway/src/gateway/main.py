"""The gateway process: the app factory and the `zhtj-gateway` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import httpx
import uvicorn
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from gateway.api import FORWARD_FIRST, PROXY_ROUTE, Gateway, router
from gateway.auth import PublicKeyFile, TokenVerifier
from gateway.console import console_mount
from gateway.handlers import BusFactory, StateFeed
from gateway.http1 import Http1Forwarder
from gateway.proxy import Forwarder, HttpxForwarder, Upstreams
from gateway.ratelimit import RateLimiter
from gateway.routes import RouteCatalog
from gateway.scope import FrozenAccounts, Scope, org_lookup
from gateway.settings import GatewaySettings
from shared.bus import Bus
from shared.heap import settle_heap
from shared.lane import lane_first
from shared.logging import configure_logging, get_logger
from shared.observe import FASTAPI_TELEMETRY_OFF
from shared.operations import install_observability, warn_if_default_secret
from shared.orgtree import OrgTree
from shared.problems import install_problem_handlers
from shared.telemetry import setup_tracing

log = get_logger(__name__)


def build_gateway(
    settings: GatewaySettings,
    client: httpx.AsyncClient,
    forwarder: Forwarder,
    bus_factory: BusFactory | None,
) -> Gateway:
    upstreams = Upstreams(client, settings.services, settings.platform.internal_secret, forwarder)
    tree = OrgTree()
    frozen = FrozenAccounts()
    return Gateway(
        settings=settings,
        upstreams=upstreams,
        catalog=RouteCatalog(upstreams, settings.routes_refresh_seconds),
        scope=Scope(tree, org_lookup(upstreams)),
        frozen=frozen,
        verifier=TokenVerifier(PublicKeyFile(settings.jwt_public_key_file)),
        limiter=RateLimiter(settings.rate_per_second, settings.rate_burst),
        feed=StateFeed(
            upstreams,
            tree,
            frozen,
            settings.instance,
            bus_factory,
            queue_expires_ms=(
                settings.state_queue_expires_seconds * 1000
                if settings.state_queue_expires_seconds
                else None
            ),
        ),
    )


def create_app(
    settings: GatewaySettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
    events: bool = True,
) -> FastAPI:
    """The gateway app. Tests hand in a transport standing for the services, their own tracer
    provider, and `events=False` to run without a broker."""
    settings = settings or GatewaySettings()
    warn_if_default_secret(settings.platform)
    bus_factory: BusFactory | None = (
        (lambda: Bus(settings.platform, f"gateway-{settings.instance}")) if events else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(settings.upstream_timeout_seconds, connect=5.0),
            limits=httpx.Limits(
                max_connections=settings.upstream_max_connections,
                max_keepalive_connections=settings.upstream_max_connections,
            ),
        )
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracer_provider)
        # Clients' requests go through their own lean client (the one above serves the
        # gateway's own calls); tests standing in for the services keep to their transport.
        forwarder: Forwarder = (
            Http1Forwarder(settings.upstream_timeout_seconds, settings.upstream_max_connections)
            if transport is None
            else HttpxForwarder(httpx.AsyncClient(transport=transport))
        )
        gateway = build_gateway(settings, client, forwarder, bus_factory)
        app.state.gateway = gateway
        tasks = [
            asyncio.create_task(gateway.catalog.run(), name="gateway-routes"),
            asyncio.create_task(gateway.feed.run(), name="gateway-state"),
        ]
        settle_heap()
        log.info("gateway_started", port=settings.port, services=list(settings.services))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await gateway.feed.close()
            await forwarder.close()
            await client.aclose()

    app = FastAPI(
        title="智慧团建 gateway",
        version="1.0.0",
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY_OFF,  # type: ignore[arg-type]
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_problem_handlers(app, database=False)
    # Before the observer wraps the stack: forwarded requests are observed.
    lane_first(app, FORWARD_FIRST)
    install_observability(app, tracer_provider)
    app.include_router(router)
    # Also in the router (last, after the routes above): what the fast lane does not take, a
    # method it does not forward, still meets the same answers there.
    app.router.routes.append(PROXY_ROUTE)
    console = console_mount(settings.console_dir)
    if console is not None:
        app.router.routes.append(console)  # last: everything the API and /healthz do not take
    return app


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="zhtj-gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("api", help="serve the public API")
    parser.parse_args(argv)
    settings = GatewaySettings()
    configure_logging("gateway", settings.platform.log_level, settings.platform.log_json)
    setup_tracing("gateway", settings.platform)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        # The client address keys the anonymous rate limit: a client must not be able to name
        # its own with X-Forwarded-For.
        proxy_headers=False,
        # Longer than clients commonly keep an idle connection (httpx 5 s, browsers ~60 s): at
        # uvicorn's 5 s a client reusing a connection the moment the gateway closes it gets
        # "server disconnected" (seen in an end-to-end run); the client closes first instead.
        timeout_keep_alive=75,
    )
