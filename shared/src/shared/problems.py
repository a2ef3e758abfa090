"""RFC 9457 problem details: one exception type with a stable `code`, and the handlers that render it.

This is also the one place that decides what is a transient fault (503 with Retry-After, never a
500): a database connection lost, refused or timed out (`database_gone`), a transaction the
database rolled back to let another go on (`gave_way`), a pool with no connection free, and a
service or outside system we call that does not answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.logging import get_logger
from shared.telemetry import current_trace_id

if TYPE_CHECKING:  # the HTTP stack is loaded by the processes that answer HTTP, not by `Problem`
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    423: "Locked",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raise anywhere in a request to answer with problem+json; `code` is what clients branch on."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        # A 503 always says when to try again (the contract's "see Retry-After"): a second
        # unless the raiser knows better (a maintenance window's end).
        self.headers = {"Retry-After": "1", **(headers or {})} if status == 503 else headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://zhtj.example/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "code": self.code,
        }
        body.update(self.extra)
        return body


def problem_response(problem: Problem) -> JSONResponse:
    from fastapi.responses import JSONResponse

    return JSONResponse(
        problem.body(), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path")]
        errors.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", "invalid"))})
    return errors


# SQLSTATEs of a server that cannot serve now (not of a statement it refused): class 08, the
# connection failed; 57P01-57P03, shut down by an operator or a crash, or starting up; 53300, too
# many connections; and two refusals on connecting that a restore's swap (shared.backup) makes
# for a moment: 55000, the database is not accepting connections, and 3D000, it has no name
# between the two renames. (Our statements raise neither: no currval, no catalog by name.)
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "55000", "3D000")


# SQLSTATEs of a transaction the database rolled back whole to let another go on: 40P01, the
# victim of a deadlock; 40001, a serialization failure. The connection is good and nothing was
# written; the same request tried again goes through (shared.retry).
GAVE_WAY_SQLSTATES = ("40P01", "40001")


def gave_way(exc: BaseException) -> bool:
    """The database rolled the transaction back to break a deadlock or keep transactions
    serializable (SQLAlchemy's error or the driver's)."""
    error = getattr(exc, "orig", None) or exc
    return str(getattr(error, "sqlstate", "") or "") in GAVE_WAY_SQLSTATES


def database_gone(exc: BaseException) -> bool:
    """The connection broke or could not be made, as opposed to a statement the database refused.

    Takes SQLAlchemy's errors and asyncpg's own: a refusal while connecting (the server starting
    up, too many clients) comes unwrapped.
    """
    from asyncpg import InternalClientError
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    error: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        if isinstance(exc, OperationalError) and isinstance(exc.orig, OSError):
            return True
        error = exc.orig
    # The driver's protocol in a state it cannot leave ("cannot switch to state 12; another
    # operation is in progress"): what a terminated backend leaves when its goodbye arrives in
    # the middle of an operation and the socket's close is not seen yet. The connection is as
    # good as lost (the pool discards it when its reset fails), and the statement never ran.
    # (Under SQLAlchemy, `orig` is its adapter's error, raised from the driver's.)
    if isinstance(error, InternalClientError) or isinstance(
        getattr(error, "__cause__", None), InternalClientError
    ):
        return True
    return str(getattr(error, "sqlstate", "") or "").startswith(UNAVAILABLE_SQLSTATES)


def install_problem_handlers(app: FastAPI, *, database: bool = True) -> None:
    """Every exception a request can end in, answered as problem+json. `database=False` (the
    gateway, which has none) leaves out the database's errors and never loads SQLAlchemy."""
    import httpx
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from shared.retry import mark_worth_another_try

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            Problem(
                422,
                "request.invalid",
                "The request has fields that are missing or not valid.",
                errors=validation_errors(exc),
            )
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            # A body that cannot be read at all: not JSON, a multipart form without its boundary.
            400: "request.malformed",
            404: "route.not_found",
            405: "route.method_not_allowed",
        }.get(exc.status_code, f"http.{exc.status_code}")
        # Its headers too: a 405 must say what is allowed (`Allow`, RFC 9110).
        return problem_response(
            Problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
        )

    async def on_transient(request: Request, exc: Exception) -> JSONResponse | None:
        """503 for a connection lost or a transaction the database undid, the request marked
        to be tried once more (shared.retry); None for any other error."""
        if database_gone(exc):
            mark_worth_another_try(request.scope)  # tried once more on a fresh connection
            return await on_database_unavailable(request, exc)
        if gave_way(exc):
            mark_worth_another_try(request.scope)
            return await on_gave_way(request, exc)
        return None

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        if (transient := await on_transient(request, exc)) is not None:
            return transient
        # SQLSTATE class 22 is "data exception": a value the database cannot hold (a NUL
        # character, a number or date out of range). It came from the request, so it is the
        # client's to fix; the transaction was rolled back, nothing was written.
        # (Registered for SQLAlchemy's DBAPIError only: `orig` is the driver's error.)
        refused = getattr(exc, "orig", None)
        if str(getattr(refused, "sqlstate", "") or "").startswith("22"):
            # Logged (without the values) so that a bug of ours answering 422 is still seen.
            log.warning("request_value_refused_by_database", error=type(refused).__name__)
            return problem_response(
                Problem(
                    422,
                    "request.invalid_value",
                    "A value in the request contains characters or a size the system cannot store.",
                )
            )
        return await on_unexpected(request, exc)

    async def on_driver_error(request: Request, exc: Exception) -> JSONResponse:
        # asyncpg's own error, not wrapped by SQLAlchemy: one raised while connecting, or the
        # connection closing under a COPY (shared.db.copy_rows).
        return await on_transient(request, exc) or await on_unexpected(request, exc)

    async def on_connection_lost(request: Request, exc: Exception) -> JSONResponse:
        mark_worth_another_try(request.scope)
        return await on_database_unavailable(request, exc)

    async def on_database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The database restarting or unreachable: nothing was written, and trying again shortly
        # is the right thing for the client to do; it is not a bug of ours.
        log.warning("database_unavailable", error=type(exc).__name__)
        return problem_response(
            Problem(
                503,
                "ops.database_unavailable",
                "The database does not answer; try again shortly.",
                headers={"Retry-After": "1"},
            )
        )

    async def on_gave_way(_: Request, exc: Exception) -> JSONResponse:
        # The first try's answer is held back and the request tried again (shared.retry); a
        # second try rolled back too goes out. A deadlock means two of our paths lock rows in
        # opposite orders, a bug to fix: logged with the driver's error and SQLSTATE (never the
        # statement's values).
        refused = getattr(exc, "orig", None) or exc
        log.warning(
            "transaction_gave_way",
            error=type(refused).__name__,
            sqlstate=str(getattr(refused, "sqlstate", "")),
        )
        return problem_response(
            Problem(
                503,
                "ops.database_busy",
                "The request met another at the same moment and was undone; try again.",
                headers={"Retry-After": "1"},
            )
        )

    async def on_dependency_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # A service or outside system we call (org's directory, the SMS gateway) refused, timed
        # out or broke off: as passing a fault as the database being away.
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return problem_response(
            Problem(
                503,
                "ops.dependency_unavailable",
                "A service this one needs does not answer; try again shortly.",
                headers={"Retry-After": "1"},
            )
        )

    async def on_overflow(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            Problem(
                422, "request.invalid_value", "A date or number in the request is out of range."
            )
        )

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", error_type=type(exc).__name__)
        # This handler runs outside the middleware that sets X-Trace-Id on every other answer;
        # the trace id is what an operator needs most on exactly this one.
        trace_id = current_trace_id()
        return problem_response(
            Problem(
                500,
                "internal.error",
                "Something went wrong on our side.",
                headers={"X-Trace-Id": trace_id} if trace_id else None,
            )
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    if database:
        import asyncpg
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        app.add_exception_handler(DBAPIError, on_database_error)
        app.add_exception_handler(PoolTimeout, on_database_unavailable)  # a full pool
        app.add_exception_handler(asyncpg.PostgresError, on_driver_error)
        app.add_exception_handler(asyncpg.InternalClientError, on_driver_error)
    # A refused, reset or timed-out connection comes as the OS's error (not every OSError: a full
    # disk is ours to fix, a 500).
    app.add_exception_handler(ConnectionError, on_connection_lost)
    app.add_exception_handler(TimeoutError, on_database_unavailable)
    app.add_exception_handler(httpx.TransportError, on_dependency_unavailable)
    app.add_exception_handler(OverflowError, on_overflow)
    app.add_exception_handler(Exception, on_unexpected)
