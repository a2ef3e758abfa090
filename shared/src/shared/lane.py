"""The fast lane: the few routes every screen or the month-start peak hits, answered past
FastAPI's request handling.

FastAPI's way through a request (its error, body-limit and exception middleware, a router that
tries the routes in turn, solving the endpoint's dependencies, checking the answer against the
response model) cost more CPU than a hot route's own work: about a third of a service's
`GET /orgs/{id}`, and as much of a cash payment. A route marked `@fast_lane` stays a FastAPI
route (its OpenAPI entry, and the way for every request the lane does not take), and the lane
calls the same endpoint function, resolving its few kinds of parameter itself: a path id, a
dependency that needs only the request (the caller, `Reads`), the request, a JSON body model, a
header that is absent. Anything else in the signature is refused when the lane is built, so a
route cannot be put in the lane with a parameter it would get wrong.

The lane takes only a request it answers as FastAPI would. Anything else (an id that is not a
UUID in its usual form, a body that does not validate, a header that is present and so has
rules to meet) goes on to the app, with the body read so far replayed, and gets FastAPI's own
answer. What the endpoint raises is answered by the app's own exception handlers.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any, Protocol, TypeVar, get_args, get_origin, get_type_hints

from fastapi import FastAPI, Request, Response
from fastapi.params import Depends, Header
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LANE_MARK = "__league_fast_lane__"
E = TypeVar("E", bound=Callable[..., Any])
Resolver = Callable[[Request], Awaitable[Any]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def fast_lane(endpoint: E) -> E:
    """Mark a FastAPI endpoint for the lane (put it under the route decorator)."""
    setattr(endpoint, LANE_MARK, True)
    return endpoint


class Declined(Exception):
    """The lane does not take this request: the app answers it."""


class LaneEntry(Protocol):
    def match(self, scope: Scope) -> Scope | None: ...

    async def answer(self, request: Request) -> Response: ...


class PlainRoute:
    """A Starlette route whose endpoint takes the request and answers (the gateway's proxy)."""

    def __init__(self, route: Route) -> None:
        self._route = route

    def match(self, scope: Scope) -> Scope | None:
        match, child = self._route.matches(scope)
        if match is not Match.FULL:
            return None
        child["route"] = self._route  # metrics and spans name the route's template
        return child

    async def answer(self, request: Request) -> Response:
        response: Response = await self._route.endpoint(request)
        return response


class EndpointRoute:
    """A FastAPI route answered by calling its endpoint with parameters resolved here."""

    def __init__(self, route: APIRoute) -> None:
        self._api_route = route
        self._endpoint = route.endpoint
        self._status = route.status_code or 200
        self._model = route.response_model
        shaped = (
            route.response_model_include,
            route.response_model_exclude,
            route.response_model_exclude_unset,
            route.response_model_exclude_defaults,
            route.response_model_exclude_none,
            not route.response_model_by_alias,
        )
        if any(shaped):
            raise TypeError(f"{route.path}: the lane answers whole models only, by alias")
        hints = get_type_hints(route.endpoint, include_extras=True)
        path_names = set(route.param_convertors)
        template = route.path
        self._resolvers: list[tuple[str, Resolver]] = []
        for name, parameter in inspect.signature(route.endpoint).parameters.items():
            hint = hints.get(name)
            if name in path_names:
                if hint is not uuid.UUID:
                    raise TypeError(f"{route.path}: the lane takes UUID path parameters only")
                # Starlette's convertor matches the hex forms, with or without hyphens; any
                # other spelling, valid or not, goes to FastAPI.
                template = template.replace("{" + name + "}", "{" + name + ":uuid}")
            self._resolvers.append((name, _resolver(route.path, name, hint, parameter, path_names)))
        self._methods = frozenset(route.methods or ())
        self._route = Route(template, endpoint=route.endpoint, methods=sorted(self._methods))

    def match(self, scope: Scope) -> Scope | None:
        match, child = self._route.matches(scope)
        # Starlette's route would take a HEAD beside a GET, FastAPI's does not.
        if match is not Match.FULL or scope["method"] not in self._methods:
            return None
        child["route"] = self._api_route
        return child

    async def answer(self, request: Request) -> Response:
        values = {name: await resolve(request) for name, resolve in self._resolvers}
        result = await self._endpoint(**values)
        if isinstance(result, Response):
            return result
        if self._model is not None and type(result) is self._model:
            return Response(
                result.model_dump_json(by_alias=True),
                self._status,
                media_type="application/json",
            )
        raise TypeError(f"the lane cannot answer {type(result).__name__} for {self._model}")


def _resolver(
    path: str, name: str, hint: Any, parameter: inspect.Parameter, path_names: set[str]
) -> Resolver:
    if name in path_names:

        async def path_value(request: Request) -> Any:
            return request.path_params[name]

        return path_value
    if hint is Request:

        async def the_request(request: Request) -> Request:
            return request

        return the_request
    marker = _annotated_marker(hint)
    if isinstance(marker, Depends) and marker.dependency is not None:
        dependency = marker.dependency
        taken = list(inspect.signature(dependency).parameters)
        if len(taken) != 1 or not inspect.iscoroutinefunction(dependency):
            raise TypeError(f"{path}: {name}: the lane takes async dependencies of the request")
        return dependency  # type: ignore[no-any-return]
    if isinstance(marker, Header):
        header = marker.alias or name.replace("_", "-")
        default = parameter.default

        async def absent_header(request: Request) -> Any:
            if header in request.headers:
                raise Declined  # its rules are FastAPI's to check
            return default

        return absent_header
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        model = hint

        async def json_body(request: Request) -> BaseModel:
            if request.headers.get("content-type", "").split(";")[0] != "application/json":
                raise Declined
            try:
                return model.model_validate_json(await request.body())
            except ValidationError as exc:
                raise Declined from exc  # FastAPI words the refusal

        return json_body
    raise TypeError(f"{path}: {name}: the lane cannot resolve {hint!r}")


def _annotated_marker(hint: Any) -> Any:
    if get_origin(hint) is Annotated:
        for extra in get_args(hint)[1:]:
            if isinstance(extra, Depends | Header):
                return extra
    return None


class Lane:
    """ASGI middleware: a request one of the lane's routes matches is answered here; everything
    else goes on to `app`. Without `routes`, the lane holds the app's `@fast_lane` routes."""

    def __init__(self, app: ASGIApp, routes: Sequence[LaneEntry] | None = None) -> None:
        self.app = app
        self._routes = routes

    def _routes_of(self, scope: Scope) -> Sequence[LaneEntry]:
        if self._routes is None:
            self._routes = [EndpointRoute(route) for route in _marked_routes(scope["app"].routes)]
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self._routes_of(scope):
                child = route.match(scope)
                if child is not None:
                    await self._answer(route, child, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self, route: LaneEntry, child: Scope, scope: Scope, receive: Receive, send: Send
    ) -> None:
        received: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        scope.update(child)
        request = Request(scope, recording)
        try:
            response = await route.answer(request)
        except Declined:
            replay = iter(received)

            async def replaying() -> Message:
                return next(replay, None) or await receive()

            await self.app(scope, replaying, send)
            return
        except Exception as exc:
            response = await _handler_of(scope["app"].exception_handlers, exc)(request, exc)
        await response(scope, receive, send)


def _marked_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    """The app's `@fast_lane` routes, through the routers it includes."""
    marked = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not getattr(route.endpoint, LANE_MARK, False):
            continue
        # What an include or the decorator adds (a prefix, dependencies run for their effect)
        # the lane would leave out.
        included = list(getattr(context, "dependencies", None) or [])
        if context.path != route.path or route.dependencies or included:
            raise TypeError(f"{route.path}: the lane takes routes without added dependencies")
        marked.append(route)
    return marked


def _handler_of(handlers: Mapping[Any, ExceptionHandler], exc: Exception) -> ExceptionHandler:
    """The app's handler for the exception's nearest class, as Starlette looks it up."""
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    raise exc  # no handler at all: the server's own error answer


def lane_first(app: FastAPI, routes: Sequence[LaneEntry]) -> None:
    """Put a lane in front of the app's whole middleware stack (inside whatever wraps the stack
    later, the request observer included, so its requests are traced as every other): the
    gateway's forwarding, which needs none of the stack."""
    build = app.build_middleware_stack

    def build_with_lane() -> ASGIApp:
        return Lane(build(), routes)

    app.build_middleware_stack = build_with_lane  # type: ignore[method-assign]
