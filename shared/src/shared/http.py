"""FastAPI pieces every service uses: the caller and session dependencies, route policies the
gateway reads from the OpenAPI document, and list paging."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date
from typing import Annotated, Any, Generic, Literal, TypeVar, cast

from fastapi import Depends, Query, Request
from pydantic import AfterValidator, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from shared.caller import CALLER_HEADER, SIGNATURE_HEADER, BadCallerHeader, Caller, verify_caller
from shared.contract import POLICY_KEY
from shared.problems import Problem
from shared.reads import Reads


def route_policy(
    *,
    public: bool = False,
    org_param: str | None = None,
    allow: Literal["admin", "admin_or_member"] = "admin",
    any_status: bool = False,
) -> dict[str, Any]:
    """What the gateway must check before forwarding, published in the route's OpenAPI entry.

    `org_param` names the path parameter that identifies an organisation; the gateway then checks
    the caller is admin over it (or, with "admin_or_member", a member inside it). `any_status`
    lets an account that must still change its password through (the change itself, /me).
    """
    policy: dict[str, Any] = {"public": public, "allow": allow, "any_status": any_status}
    if org_param:
        policy["org_param"] = org_param
    return {POLICY_KEY: policy}


S = TypeVar("S")


def app_settings(request: Request, kind: type[S]) -> S:
    """The service's settings, as its own settings class."""
    settings = request.app.state.settings
    assert isinstance(settings, kind)
    return settings


def app_resource(request: Request, key: str, kind: Callable[..., S]) -> S:
    """Something the service built at start-up (a calendar, a key, a store): `Resources.extra`.

    `kind` only names the type for the reader and the type checker (a Protocol is fine).
    """
    return cast(S, request.app.state.resources.extra[key])


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.resources.db_turns, request.app.state.sessions() as session:
        yield session


# For a route that opens a session on only some of its paths (the others run on `ReadsDep`): a
# session dependency would hold a database turn for the whole request, and a `Reads` statement
# waiting for a turn of its own beside it could wait for ever once every turn is so held.
session_for = contextlib.asynccontextmanager(get_session)


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session outside any transaction, for routes that only read: each statement is its own
    snapshot, and nothing a route might write would be atomic, so routes that write (an audit
    row included) take `SessionDep`."""
    async with request.app.state.resources.db_turns, request.app.state.read_sessions() as session:
        yield session


async def get_reads(request: Request) -> Reads:
    return cast(Reads, request.app.state.resources.reads)


# async although it awaits nothing: FastAPI runs a plain `def` dependency in a worker thread, a
# thread hop on every request.
async def get_caller(request: Request) -> Caller:
    raw = request.headers.get(CALLER_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not raw or not signature:
        raise Problem(401, "auth.not_authenticated", "This request carries no verified caller.")
    try:
        return verify_caller(raw, signature, request.app.state.settings.platform.internal_secret)
    except BadCallerHeader as exc:
        raise Problem(401, "auth.not_authenticated", "The caller identity is not valid.") from exc


async def get_optional_caller(request: Request) -> Caller | None:
    """On a public route: who calls when the gateway verified a token, else None."""
    if not request.headers.get(CALLER_HEADER):
        return None
    return await get_caller(request)


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]
# Hot reads that skip the ORM (shared.reads): what every screen reads.
ReadsDep = Annotated[Reads, Depends(get_reads)]
CallerDep = Annotated[Caller, Depends(get_caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(get_optional_caller)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise Problem(
            422, "request.bad_cursor", "The cursor is not one this list gave out."
        ) from exc
    if not isinstance(value, dict):
        raise Problem(422, "request.bad_cursor", "The cursor is not one this list gave out.")
    return value


def read_cursor(cursor: str | None, parse: Callable[[dict[str, Any]], S]) -> S | None:
    """The position a list's cursor stands for, or None for the first page; a cursor this list
    did not give out (edited, truncated, from another list) is 422, not 500."""
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        return parse(position)
    except (KeyError, ValueError, TypeError) as exc:
        raise Problem(
            422, "request.bad_cursor", "The cursor is not one this list gave out."
        ) from exc


LimitQuery = Annotated[int, Query(ge=1, le=500)]

R = TypeVar("R")


def page_of(
    found: Sequence[R], limit: int, position: Callable[[R], dict[str, Any]]
) -> tuple[list[R], str | None]:
    """A list's use case was asked for `limit + 1` rows: the `limit` to show, and the cursor of
    the next page (the position of the last row shown), or None when this page is the last."""
    page = list(found[:limit])
    return page, encode_cursor(position(page[-1])) if len(found) > limit else None


def _plausible_day(value: date) -> date:
    if not 1900 <= value.year <= 2100:
        raise ValueError("must be between 1900-01-01 and 2100-12-31")
    return value


def _non_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


# Dates people enter: deadlines are computed from them, so 9999-12-31 is refused up front.
Day = Annotated[date, AfterValidator(_plausible_day)]
# Free text that must say something (a reason, a name): surrounding spaces dropped.
NonBlank = Annotated[str, AfterValidator(_non_blank)]
