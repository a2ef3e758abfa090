"""The activities service skeleton answers its health check."""

from fastapi.testclient import TestClient

from activities.main import create_app


def test_the_service_says_it_is_alive() -> None:
    with TestClient(create_app()) as client:
        r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
