"""Delivery guarantees and tracing across the real processes: a relay killed between commit and
publish (and between publish and marking), a poison message parked and replayed, one trace from
the gateway to the consumers."""

from __future__ import annotations

import json
import uuid

import httpx

from .conftest import Api, Running, Tree, eventually

ORG_TREE_QUEUE = "identity.org-tree"


def outbox_event_id(running: Running, org_id: str, event_type: str) -> str:
    rows = running.db(
        "org",
        "SELECT id FROM outbox WHERE type = $1 AND envelope->'data'->>'org_id' = $2",
        event_type,
        org_id,
    )
    assert len(rows) == 1
    return str(rows[0]["id"])


def identity_knows(running: Running, org_id: str) -> list[object]:
    return running.db("identity", "SELECT name FROM org_replica WHERE id = $1", uuid.UUID(org_id))


def test_one_trace_covers_gateway_service_publish_and_consumers(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    r = root_admin.create_org(tree.city, f"追踪县委{uuid.uuid4().hex[:4]}")
    assert r.status_code == 201
    trace_id = r.headers["x-trace-id"]

    def spans_of_trace() -> set[tuple[str, str]] | None:
        spans = {(s["service"], s["name"]) for s in running.spans() if s["trace_id"] == trace_id}
        wanted = {("org", "org.created publish"), ("identity", f"{ORG_TREE_QUEUE} process")}
        return (
            spans
            if wanted <= spans
            and any(svc == "gateway" and "process" in name for svc, name in spans)
            else None
        )

    spans = eventually(spans_of_trace, within=10)
    services = {svc for svc, _ in spans}
    assert {"gateway", "org", "identity"} <= services
    # The org service's HTTP server span is part of it, not only the relay's publish.
    assert any(svc == "org" and "POST" in name for svc, name in spans)


def test_a_relay_killed_around_publishing_still_delivers_each_event_once(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    system = running.system
    system.stop("org-events")
    created = root_admin.create_org(tree.city, f"断电县委{uuid.uuid4().hex[:4]}")
    assert created.status_code == 201
    org_id = created.json()["id"]
    event_id = outbox_event_id(running, org_id, "org.created")

    # Committed but not published: the identity service does not know the organisation yet.
    application = {
        "responsible_name": "赵六",
        "responsible_phone": "13600136000",
        "requested_username": f"late{uuid.uuid4().hex[:6]}",
        "form_document_id": str(uuid.uuid4()),
    }
    early = root_admin.post(f"/orgs/{org_id}/admin-applications", json=application)
    assert early.status_code == 404 and identity_knows(running, org_id) == []

    # The relay publishes, then dies before marking the row sent.
    system.start("org-events", extra_env={"LEAGUE_FAULT_RELAY_EXIT_AFTER_PUBLISH": "true"})
    assert system.wait_exit("org-events", timeout=30) == 17
    # Restarted, it publishes the same event again; the consumer takes it once.
    system.start("org-events")
    eventually(lambda: identity_knows(running, org_id), within=10)
    eventually(
        lambda: any(
            event_id in line and "event_duplicate_skipped" in line
            for line in system.logs("identity-events")
        ),
        within=10,
    )
    inbox = running.db(
        "identity", "SELECT count(*) AS n FROM inbox WHERE event_id = $1", uuid.UUID(event_id)
    )
    assert inbox[0]["n"] == 1
    # Marked sent once the broker confirmed it, which may come just after the consumer took it.
    eventually(
        lambda: running.db("org", "SELECT sent_at FROM outbox WHERE id = $1", uuid.UUID(event_id))[
            0
        ]["sent_at"],
        within=10,
    )
    assert (
        root_admin.post(f"/orgs/{org_id}/admin-applications", json=application).status_code == 201
    )


def dead_letters(running: Running) -> list[dict[str, object]]:
    done = running.system.run_command("identity", "dlq", "list", ORG_TREE_QUEUE, echo=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_a_poison_message_lands_in_the_dlq_and_replays_after_the_fix(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    system = running.system
    org_id = root_admin.create_org(tree.city, f"改名县委{uuid.uuid4().hex[:4]}").json()["id"]
    eventually(lambda: identity_knows(running, org_id), within=10)

    # A consumer release that fails on org.updated: every retry fails, the message is parked.
    system.stop("identity-events")
    system.start("identity-events", extra_env={"LEAGUE_FAULT_FAIL_EVENT_TYPES": '["org.updated"]'})
    new_name = f"新名县委{uuid.uuid4().hex[:4]}"
    assert root_admin.patch(f"/orgs/{org_id}", json={"name": new_name}).status_code == 200
    parked = eventually(
        lambda: [d for d in dead_letters(running) if d["type"] == "org.updated"], within=15
    )
    assert parked[0]["message_id"] == outbox_event_id(running, org_id, "org.updated")
    assert identity_knows(running, org_id)[0]["name"] != new_name  # type: ignore[index]

    # The fix is deployed, the operator replays: the rename arrives, the DLQ is empty.
    system.stop("identity-events")
    system.start("identity-events")
    replayed = system.run_command("identity", "dlq", "replay", ORG_TREE_QUEUE, echo=False)
    assert json.loads(replayed.stdout)["replayed"] >= 1
    eventually(lambda: identity_knows(running, org_id)[0]["name"] == new_name, within=10)  # type: ignore[index]
    assert dead_letters(running) == []


def test_a_broker_restart_loses_no_event_and_doubles_none(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    from shared.testing import rabbitmqctl

    rabbitmqctl("stop_app")
    try:
        # The public API keeps working: writes land in the outbox while the broker is away.
        created = root_admin.create_org(tree.city, f"停机县委{uuid.uuid4().hex[:4]}")
        assert created.status_code == 201
    finally:
        rabbitmqctl("start_app")
    org_id = created.json()["id"]
    event_id = outbox_event_id(running, org_id, "org.created")
    # Relays and consumers reconnect by themselves and the event arrives, once.
    eventually(lambda: identity_knows(running, org_id), within=60, interval=0.5)
    inbox = running.db(
        "identity", "SELECT count(*) AS n FROM inbox WHERE event_id = $1", uuid.UUID(event_id)
    )
    assert inbox[0]["n"] == 1
    # Consumers keep consuming after the restart, and the gateway's state consumer is back.
    later = root_admin.create_org(tree.city, f"恢复县委{uuid.uuid4().hex[:4]}")
    assert later.status_code == 201
    eventually(lambda: identity_knows(running, later.json()["id"]), within=30, interval=0.2)
    gateway_ready = eventually(
        lambda: httpx.get(f"{running.system.gateway_url}/readyz").status_code == 200, within=30
    )
    assert gateway_ready
