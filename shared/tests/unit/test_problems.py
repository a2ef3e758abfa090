"""Every error is application/problem+json with a stable code."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.problems import Problem, install_problem_handlers


class Body(BaseModel):
    name: str
    count: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    def create(body: Body) -> dict[str, str]:
        if body.name == "taken":
            raise Problem(409, "thing.duplicate", "Already there.", existing=1)
        return {"ok": "yes"}

    @app.get("/away")
    def away() -> None:
        raise Problem(503, "ops.org_unreachable", "The directory does not answer.")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    return app


client = TestClient(make_app(), raise_server_exceptions=False)


def test_a_problem_is_rendered_with_its_code_and_extra_fields() -> None:
    r = client.post("/things", json={"name": "taken", "count": 1})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "thing.duplicate" and r.json()["existing"] == 1


def test_every_503_says_when_to_try_again() -> None:
    r = client.get("/away")
    assert r.status_code == 503 and r.json()["code"] == "ops.org_unreachable"
    assert r.headers["retry-after"] == "1"


def test_a_body_that_fails_validation_is_422_naming_each_field() -> None:
    r = client.post("/things", json={"count": "many"})
    assert r.status_code == 422
    assert r.json()["code"] == "request.invalid"
    assert {e["field"] for e in r.json()["errors"]} == {"name", "count"}


def test_a_body_that_cannot_be_read_is_400_malformed() -> None:
    r = client.post("/things", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (400, "request.malformed")


def test_an_unknown_route_is_a_problem_too() -> None:
    r = client.get("/nowhere")
    assert (r.status_code, r.json()["code"]) == (404, "route.not_found")


def test_a_method_a_route_does_not_take_is_405_saying_which_it_does() -> None:
    r = client.request("TRACE", "/things")
    assert (r.status_code, r.json()["code"]) == (405, "route.method_not_allowed")
    assert r.headers["allow"] == "POST"


def test_a_bug_answers_a_problem_500_without_internals() -> None:
    r = client.get("/boom")
    assert r.status_code == 500 and r.json()["code"] == "internal.error"
    assert "bug" not in r.text


def test_a_500_still_names_its_trace() -> None:
    from shared.observe import observe_app
    from shared.telemetry import in_memory_tracing

    app = make_app()
    provider, _ = in_memory_tracing()
    observe_app(app, provider)
    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500 and len(r.headers["x-trace-id"]) == 32
