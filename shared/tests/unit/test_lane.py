"""The fast lane answers what it takes exactly as FastAPI would, and leaves the rest to FastAPI."""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from shared.lane import Lane, fast_lane
from shared.problems import Problem, install_problem_handlers

THING = uuid.UUID("0b6f3c64-3f4e-4d55-9a51-7b1f3a2f1c0d")


class Mark(BaseModel):
    name: str = Field(min_length=1)
    count: int


class ThingOut(BaseModel):
    id: uuid.UUID
    who: str


async def who(request: Request) -> str:
    name = request.headers.get("x-who")
    if not name:
        raise Problem(401, "auth.not_authenticated", "Who is asking?")
    return name


def make_app(*, lane: bool, ways: list[str]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, database=False)
    if lane:
        app.add_middleware(Lane)

    def went(request: Request) -> None:
        ways.append("fastapi" if "fastapi_inner_astack" in request.scope else "lane")

    router = APIRouter()  # as the services' routes are: in a router the app includes

    @router.get("/things/{thing_id}", response_model=ThingOut)
    @fast_lane
    async def read_thing(
        thing_id: uuid.UUID, request: Request, caller: Annotated[str, Depends(who)]
    ) -> ThingOut:
        went(request)
        if thing_id != THING:
            raise Problem(404, "thing.not_found", "No such thing.")
        return ThingOut(id=thing_id, who=caller)

    @router.post("/things/{thing_id}/marks", status_code=201, response_model=Mark)
    @fast_lane
    async def mark_thing(
        thing_id: uuid.UUID,
        body: Mark,
        request: Request,
        caller: Annotated[str, Depends(who)],
        idempotency_key: Annotated[str | None, Header(max_length=5)] = None,
    ) -> JSONResponse:
        went(request)
        if body.name == "taken":
            raise Problem(409, "mark.taken", "Already marked.")
        return JSONResponse(
            {**body.model_dump(), "key": idempotency_key, "by": caller}, status_code=201
        )

    app.include_router(router)
    return app


MARK = f"/things/{THING}/marks"
A_MARK = {"name": "a", "count": 1}
REQUESTS = [
    ("GET", f"/things/{THING}", {"x-who": "ann"}, None, "lane"),
    ("GET", f"/things/{THING.hex}", {"x-who": "ann"}, None, "lane"),
    ("GET", f"/things/{uuid.uuid4()}", {"x-who": "ann"}, None, "lane"),  # 404
    ("GET", f"/things/{THING}", {}, None, "lane"),  # 401 from the dependency
    ("GET", "/things/not-a-uuid", {"x-who": "ann"}, None, "fastapi"),  # 422
    ("GET", f"/things/{{{THING}}}", {"x-who": "ann"}, None, "fastapi"),  # braces: FastAPI's
    ("HEAD", f"/things/{THING}", {"x-who": "ann"}, None, "fastapi"),  # 405, as FastAPI answers
    ("POST", MARK, {"x-who": "ann"}, A_MARK, "lane"),
    ("POST", MARK, {"x-who": "ann"}, {"name": "taken", "count": 1}, "lane"),  # 409
    ("POST", MARK, {"x-who": "ann"}, {"name": "", "count": "x"}, "fastapi"),  # 422
    ("POST", MARK, {"x-who": "ann", "idempotency-key": "k1"}, A_MARK, "fastapi"),
    ("POST", MARK, {"x-who": "ann", "idempotency-key": "far-too-long"}, A_MARK, "fastapi"),
    ("POST", MARK, {}, A_MARK, "lane"),  # 401
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "way"), REQUESTS)
def test_the_lane_answers_as_fastapi_does(
    method: str, path: str, headers: dict[str, str], body: object, way: str
) -> None:
    answers = []
    for lane in (False, True):
        ways: list[str] = []
        client = TestClient(make_app(lane=lane, ways=ways), raise_server_exceptions=False)
        r = client.request(method, path, headers=headers, json=body)
        answers.append((r.status_code, r.headers.get("content-type"), r.content))
        if lane and ways:
            # Which way it went: the requests the lane cannot be sure of are FastAPI's.
            assert ways == [way]
    assert answers[0] == answers[1]
    assert answers[0][0] < 500


def test_a_route_with_a_parameter_the_lane_cannot_resolve_is_refused_when_built() -> None:
    app = FastAPI()
    app.add_middleware(Lane)

    @app.get("/things")
    @fast_lane
    async def list_things(limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    with pytest.raises(TypeError, match="limit"):
        TestClient(app).get("/things")


def test_a_route_included_with_a_prefix_is_refused_when_built() -> None:
    # The lane would match the route's own path, not the one the app serves.
    router = APIRouter()

    @router.get("/things/{thing_id}")
    @fast_lane
    async def read_thing(thing_id: uuid.UUID) -> dict[str, str]:
        return {"id": str(thing_id)}

    app = FastAPI()
    app.add_middleware(Lane)
    app.include_router(router, prefix="/v2")
    with pytest.raises(TypeError, match="added dependencies"):
        TestClient(app).get(f"/v2/things/{THING}")
