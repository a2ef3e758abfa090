"""Every request is measured under its route template, traced as one server span that continues
the caller's trace, and answered with its trace id; the operations routes stay out of traces."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from shared.observe import observe_app
from shared.telemetry import in_memory_tracing

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"


def observed() -> tuple[TestClient, object]:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    provider, spans = in_memory_tracing()
    observe_app(app, provider)
    return TestClient(app), spans


def served(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "http_requests_total", {"method": "GET", "route": route, "status": status}
    )
    return value or 0.0


def test_a_request_continues_the_callers_trace_and_names_it() -> None:
    client, spans = observed()
    r = client.get("/things/7", headers={"traceparent": f"00-{CALLER_TRACE}-b7ad6b7169203331-01"})
    assert r.status_code == 200 and r.headers["x-trace-id"] == CALLER_TRACE
    (span,) = spans.get_finished_spans()  # type: ignore[attr-defined]
    assert span.name == "GET /things/{thing_id}" and span.kind.name == "SERVER"
    assert span.attributes["http.response.status_code"] == 200


def test_requests_are_counted_by_route_template_not_by_path() -> None:
    client, _ = observed()
    before = served("/things/{thing_id}", "200")
    client.get("/things/1")
    client.get("/things/2")
    assert served("/things/{thing_id}", "200") == before + 2
    before_missing = served("unmatched", "404")
    assert client.get("/nowhere/3").status_code == 404
    assert served("unmatched", "404") == before_missing + 1


def test_probes_are_measured_but_not_traced() -> None:
    client, spans = observed()
    r = client.get("/healthz")
    assert r.status_code == 200 and "x-trace-id" not in r.headers
    assert spans.get_finished_spans() == ()  # type: ignore[attr-defined]
