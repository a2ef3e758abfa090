"""Every route's OpenAPI entry lists the problem answers it can give, as problem+json."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.contract import (
    GATEWAY_PROBLEMS,
    PROBLEM_JSON,
    add_problem_answers,
    document_problems,
    problems,
)
from shared.http import route_policy


class Change(BaseModel):
    name: str


def documented() -> dict:
    app = FastAPI()

    @app.patch(
        "/orgs/{org_id}",
        openapi_extra=route_policy(org_param="org_id"),
        responses=problems(409),
    )
    async def patch(org_id: uuid.UUID, body: Change) -> dict[str, str]:
        return {}

    @app.post("/orgs/{org_id}/notes", openapi_extra=route_policy(org_param="org_id"))
    async def note(org_id: uuid.UUID, body: Change) -> dict[str, str]:
        return {}

    @app.post("/auth/login", openapi_extra=route_policy(public=True), responses=problems(423))
    async def login(body: Change) -> dict[str, str]:
        return {}

    document_problems(app)
    return TestClient(app).get("/openapi.json").json()


def statuses(document: dict, path: str, method: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


def test_a_scoped_write_documents_auth_scope_missing_invalid_unavailable_and_its_own() -> None:
    document = documented()
    assert {"400", "401", "403", "404", "409", "422", "503"} <= statuses(
        document, "/orgs/{org_id}", "patch"
    )
    invalid = document["paths"]["/orgs/{org_id}"]["patch"]["responses"]["422"]
    assert invalid["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_a_conflict_is_documented_only_where_the_route_declares_it() -> None:
    document = documented()
    answers = statuses(document, "/orgs/{org_id}/notes", "post")
    assert {"401", "403", "404", "422", "503"} <= answers and "409" not in answers


def test_a_public_route_documents_only_what_it_declares_beyond_the_derived() -> None:
    document = documented()
    answers = statuses(document, "/auth/login", "post")
    assert "423" in answers and "401" not in answers and "404" not in answers


def test_the_gateway_adds_its_own_answers_and_413_where_there_is_a_body() -> None:
    document = add_problem_answers(documented(), extra=GATEWAY_PROBLEMS, body_limit=True)
    answers = statuses(document, "/orgs/{org_id}", "patch")
    assert {"429", "503", "413"} <= answers
    assert not {"500", "502", "504"} & answers  # every transient fault is a 503
