"""The problem answers in every route's OpenAPI entry, so generated clients and fuzzers know them.

Most follow from what a route is: one that is not public can answer 401 and 403, one with path
parameters 404, one that takes parameters or a body 422 (and 400 for a body it cannot read), any
503 (its database away for a moment). A route declares the others it raises (409 for the state
conflicts of its use case, a public route's 401 or 423, ...) with `problems(...)` beside its route
policy. The gateway adds what it answers itself in front of every route (GATEWAY_PROBLEMS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

# The OpenAPI extension where a route publishes what the gateway checks (shared.http.route_policy).
POLICY_KEY = "x-league"
PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; clients branch on `code`.",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["member.duplicate"]},
        "errors": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": True},
            "description": "What was wrong, field by field (or row by row for imports).",
        },
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "The request cannot be read",
    401: "No valid access token",
    403: "Outside the caller's scope, or not allowed for this account",
    404: "No such object in the caller's scope",
    405: "This route does not take this method",
    409: "The state does not allow it (duplicate, already done, not empty)",
    413: "The body is too large",
    415: "This media type is not accepted",
    422: "A value is missing or not valid",
    423: "The account is locked for now",
    429: "Too many requests; see Retry-After",
    503: "Not available right now (a database, the broker or a service away, slow or restarting); see Retry-After",
}

# What the gateway itself may answer for any route it forwards.
GATEWAY_PROBLEMS = (400, 429, 503)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problem answers it gives beyond the ones derived for it."""
    return {status: problem_response(status) for status in statuses}


def problem_response(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS.get(status, "Problem"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }


def _derived(operation: Mapping[str, Any], parameters: Iterable[Mapping[str, Any]]) -> set[int]:
    statuses = {503}  # a database or a service may be away for a moment
    policy = operation.get(POLICY_KEY) or {}
    if not policy.get("public", False):
        statuses |= {401, 403}
    params = list(parameters)
    if any(p.get("in") == "path" for p in params):
        statuses.add(404)
    if params or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(400)  # a body that cannot be read at all (not JSON, a broken multipart form)
    return statuses


def add_problem_answers(
    document: dict[str, Any], extra: Iterable[int] = (), body_limit: bool = False
) -> dict[str, Any]:
    """Every operation of an OpenAPI document with its problem answers (the document is changed
    in place and returned): derived ones, `extra` ones for every operation, and 413 for bodies
    when something in front limits them."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    # Validation errors are answered as problems (shared.problems), not as FastAPI's shape.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for item in (document.get("paths") or {}).values():
        shared_params = item.get("parameters") or []
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            params = [*shared_params, *(operation.get("parameters") or [])]
            statuses = _derived(operation, params)
            statuses |= set(extra)
            if body_limit and "requestBody" in operation:
                statuses.add(413)
            for status in sorted(statuses):
                key = str(status)
                current = responses.get(key)
                if current is None or _is_fastapi_validation(current):
                    responses[key] = problem_response(status)
    return document


def _is_fastapi_validation(response: Mapping[str, Any]) -> bool:
    schema = ((response.get("content") or {}).get("application/json") or {}).get("schema") or {}
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")


def document_problems(app: Any) -> None:
    """Make a FastAPI app's /openapi.json carry the problem answers of every route."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_answers(generate())
        return dict(app.openapi_schema)

    app.openapi = openapi
