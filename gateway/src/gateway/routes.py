"""The route table: every operation the services publish, its policy, and path matching."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import httpx

from gateway.proxy import Upstreams
from shared.contract import POLICY_KEY
from shared.logging import get_logger
from shared.problems import Problem

log = get_logger(__name__)

HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")


@dataclass(frozen=True)
class Policy:
    """What the gateway checks before forwarding (see shared.http.route_policy)."""

    public: bool = False
    allow: Literal["admin", "admin_or_member"] = "admin"
    any_status: bool = False
    org_param: str | None = None

    @classmethod
    def from_extension(cls, raw: Any) -> Policy:
        # A malformed extension must not open a route: anything unreadable means the default,
        # which is "authenticated".
        if not isinstance(raw, Mapping):
            return cls()
        allow = raw.get("allow")
        org_param = raw.get("org_param")
        return cls(
            public=raw.get("public") is True,
            allow="admin_or_member" if allow == "admin_or_member" else "admin",
            any_status=raw.get("any_status") is True,
            org_param=org_param if isinstance(org_param, str) and org_param else None,
        )


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    template: str  # the service's own path, e.g. /orgs/{org_id}
    policy: Policy


@dataclass(frozen=True)
class Match:
    operation: Operation
    params: dict[str, str]


class RouteNotFound(Exception):
    pass


class MethodNotAllowed(Exception):
    def __init__(self, allowed: Iterable[str]) -> None:
        super().__init__("method not allowed")
        self.allowed = sorted(set(allowed))


def _segments(template: str) -> list[str]:
    return template.strip("/").split("/") if template.strip("/") else []


def _param_name(segment: str) -> str | None:
    if len(segment) > 2 and segment[0] == "{" and segment[-1] == "}":
        return segment[1:-1].split(":", 1)[0]
    return None


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    operations: dict[str, Operation] = field(default_factory=dict)


def operations_from_openapi(service: str, document: Mapping[str, Any]) -> list[Operation]:
    operations = []
    paths = document.get("paths")
    for template, item in (paths if isinstance(paths, Mapping) else {}).items():
        if not isinstance(item, Mapping) or not isinstance(template, str):
            continue
        for method, spec in item.items():
            if method.upper() not in HTTP_METHODS or not isinstance(spec, Mapping):
                continue
            policy = Policy.from_extension(spec.get(POLICY_KEY, {}))
            operations.append(Operation(service, method.upper(), template, policy))
    return operations


class RouteTable:
    """Operations per service, matched segment by segment with literals before parameters.

    Literal-first matching lets `/orgs/{id}/security-check` (identity) and `/orgs/{org_id}`
    (org) live side by side, and `/admin-applications/{id}/approve` beat a bare parameter.
    """

    def __init__(self) -> None:
        self._by_service: dict[str, list[Operation]] = {}
        self._root = _Node()
        self._reported: set[tuple[str, str, str]] = set()

    @property
    def services(self) -> set[str]:
        return set(self._by_service)

    def load(self, service: str, operations: list[Operation], order: Iterable[str]) -> None:
        """Replace one service's operations; `order` decides who wins a duplicate route."""
        self._by_service[service] = operations
        root = _Node()
        for name in [s for s in order if s in self._by_service]:
            for op in self._by_service[name]:
                kept = self._insert(root, op)
                # The table is rebuilt on every refresh: report each duplicate once.
                if kept is not None and (op.method, op.template, op.service) not in self._reported:
                    self._reported.add((op.method, op.template, op.service))
                    log.warning(
                        "route_duplicate_ignored",
                        method=op.method,
                        path=op.template,
                        kept=kept.service,
                        ignored=op.service,
                    )
        # Built aside and swapped in one step: requests in flight never see half a table.
        self._root = root

    @staticmethod
    def _insert(root: _Node, op: Operation) -> Operation | None:
        """Add an operation; if its method and path are taken, the operation that keeps them."""
        node = root
        for segment in _segments(op.template):
            if _param_name(segment) is not None:
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.literals.setdefault(segment, _Node())
        existing = node.operations.get(op.method)
        if existing is None:
            node.operations[op.method] = op
        return existing

    def match(self, method: str, raw_path: str) -> Match:
        """Match a service-relative path as sent (still percent-encoded)."""
        if not raw_path.startswith("/"):
            raise RouteNotFound
        segments = [unquote(s) for s in raw_path.split("/")[1:]]
        # Empty segments (a trailing or doubled slash) are not normalised: the service would
        # answer them with a redirect to its own address. An encoded slash would be one segment
        # here and two at the service: refuse it rather than check one route and run another.
        # Nor are dot segments: httpx would resolve /accounts/../freeze to /freeze, a route other
        # than the one checked here.
        if any("/" in s or s in ("", ".", "..") for s in segments):
            raise RouteNotFound
        candidates = list(self._walk(self._root, segments, 0))
        if not candidates:
            raise RouteNotFound
        for node in candidates:
            op = node.operations.get(method)
            if op is None and method == "HEAD":
                op = node.operations.get("GET")
            if op is not None:
                return Match(op, self._params(op.template, segments))
        raise MethodNotAllowed(m for node in candidates for m in node.operations)

    def _walk(self, node: _Node, segments: list[str], i: int) -> Iterable[_Node]:
        if i == len(segments):
            if node.operations:
                yield node
            return
        literal = node.literals.get(segments[i])
        if literal is not None:
            yield from self._walk(literal, segments, i + 1)
        if node.param is not None:
            yield from self._walk(node.param, segments, i + 1)

    @staticmethod
    def _params(template: str, segments: list[str]) -> dict[str, str]:
        params = {}
        for part, value in zip(_segments(template), segments, strict=True):
            name = _param_name(part)
            if name is not None:
                params[name] = value
        return params


class RouteCatalog:
    """The services' OpenAPI documents and the table built from them, kept current.

    Start-up does not wait for the services: a background loop fetches each document with
    back-off until it answers and re-reads answered ones now and then (services are released
    alone), and a request that matches nothing first re-fetches the services still unknown.
    """

    def __init__(
        self,
        upstreams: Upstreams,
        refresh_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstreams = upstreams
        self.table = RouteTable()
        self.documents: dict[str, dict[str, Any]] = {}
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._fetched_at: dict[str, float] = {}
        self._tried_at: dict[str, float] = {}

    @property
    def order(self) -> list[str]:
        return list(self.upstreams.services)

    @property
    def missing(self) -> list[str]:
        return [s for s in self.order if s not in self.documents]

    def ordered_documents(self) -> dict[str, dict[str, Any]]:
        return {s: self.documents[s] for s in self.order if s in self.documents}

    async def fetch(self, service: str) -> bool:
        self._tried_at[service] = self._clock()
        try:
            response = await self.upstreams.system_get(service, "/openapi.json", time_limit=5.0)
            document = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.info("routes_unavailable", upstream=service, error=type(exc).__name__)
            return False
        if not isinstance(document, dict):
            log.info("routes_unavailable", upstream=service, status=response.status_code)
            return False
        self._fetched_at[service] = self._clock()
        if document != self.documents.get(service):
            operations = operations_from_openapi(service, document)
            self.documents[service] = document
            self.table.load(service, operations, self.order)
            log.info("routes_loaded", upstream=service, operations=len(operations))
        return True

    async def fetch_missing(self, min_interval: float = 1.0) -> None:
        """Fetch unknown services, each at most once per `min_interval` (requests can be many)."""
        now = self._clock()
        due = [s for s in self.missing if now - self._tried_at.get(s, -math.inf) >= min_interval]
        await asyncio.gather(*(self.fetch(s) for s in due))

    async def run(self) -> None:
        delay = 0.25
        while True:
            now = self._clock()
            due = [
                s
                for s in self.order
                if now - self._fetched_at.get(s, -math.inf) >= self._refresh_seconds
            ]
            await asyncio.gather(*(self.fetch(s) for s in due))
            if self.missing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                delay = 0.25
                await asyncio.sleep(self._refresh_seconds)

    async def match(self, method: str, path: str) -> Match:
        try:
            return self._match(method, path)
        except RouteNotFound:
            if not self.missing:
                raise route_not_found() from None
        await self.fetch_missing()
        try:
            return self._match(method, path)
        except RouteNotFound:
            if not self.missing:
                raise route_not_found() from None
            # Not knowing every service's routes, a 404 could be wrong: say what is missing.
            raise Problem(
                503,
                "gateway.service_unavailable",
                "Some services do not answer yet, so this route cannot be resolved.",
                headers={"Retry-After": "1"},
                services=self.missing,
            ) from None

    def _match(self, method: str, path: str) -> Match:
        try:
            return self.table.match(method, path)
        except MethodNotAllowed as exc:
            raise Problem(
                405,
                "route.method_not_allowed",
                f"This route does not accept {method}.",
                headers={"Allow": ", ".join(exc.allowed)},
            ) from None


def route_not_found() -> Problem:
    return Problem(404, "route.not_found", "No route has this path.")
