"""The event catalogue (docs/asyncapi.yaml): complete, consistent, matching what producers send,
and a change of an existing event version's fields caught before it ships."""

from __future__ import annotations

import copy
import uuid
from datetime import date
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from deploy.manifests import asyncapi
from deploy.manifests.__main__ import EVENT_CATALOGUE
from shared.events import FeePaid


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EVENT_CATALOGUE.read_text(encoding="utf-8"))
    return loaded


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_event_version_has_its_channel_message_and_producer(document: dict[str, Any]) -> None:
    assert document["asyncapi"].startswith("3.")
    assert len(asyncapi.catalogued()) >= 27
    for (event_type, version), _ in asyncapi.catalogued():
        name = asyncapi.message_name(event_type, version)
        assert name in document["channels"][event_type]["messages"]
        send = document["operations"][f"{asyncapi.producer_of(event_type)}.send.{event_type}"]
        assert send["action"] == "send"


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in refs(document):
        assert resolve(document, ref) is not None, ref


def test_consumers_are_listed_with_their_queues(document: dict[str, Any]) -> None:
    receives = {
        (op["channel"]["$ref"].rsplit("/", 1)[1], op["x-queue"])
        for op in document["operations"].values()
        if op["action"] == "receive"
    }
    # Two examples that matter: the month start's notices, and the gateway's own state copy.
    assert ("fee.bills_generated", "activities.notices") in receives
    assert ("account.frozen", "gateway.{instance}.state") in receives
    consumed = {event_type for event_type, _ in receives}
    assert {"member.created", "transfer.completed", "org.created"} <= consumed


def test_a_published_envelope_matches_its_message_schema(document: dict[str, Any]) -> None:
    event = FeePaid(
        bill_id=uuid.uuid4(),
        payment_id=uuid.uuid4(),
        member_id=uuid.uuid4(),
        branch_id=uuid.uuid4(),
        month="2026-12",
        amount_fen=1500,
        channel="cash",
    )
    envelope = event.envelope("fees").model_dump(mode="json")
    schema = {"$ref": "#/components/schemas/fee.paid.v1.envelope", **document}
    jsonschema.validate(envelope, schema)
    wrong = {**envelope, "data": {**envelope["data"], "amount_fen": "15 yuan"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema)
    assert date.fromisoformat(envelope["occurred_at"][:10])


def test_a_changed_field_of_an_existing_version_is_incompatible(document: dict[str, Any]) -> None:
    current = copy.deepcopy(document)
    paid = current["components"]["schemas"]["fee.paid.v1"]
    paid["properties"]["note"] = {"type": "string"}  # even optional: consumers forbid extras
    assert asyncapi.incompatible_changes(document, current) == ["fee.paid.v1"]

    retyped = copy.deepcopy(document)
    retyped["components"]["schemas"]["fee.paid.v1"]["properties"]["amount_fen"] = {"type": "string"}
    assert asyncapi.incompatible_changes(document, retyped) == ["fee.paid.v1"]


def test_words_a_new_version_or_a_retired_one_are_compatible(document: dict[str, Any]) -> None:
    current = copy.deepcopy(document)
    schemas = current["components"]["schemas"]
    schemas["fee.paid.v1"]["description"] = "Reworded."
    schemas["fee.paid.v2"] = {"type": "object", "properties": {}}  # a new version beside
    del schemas["member.imported.v1"]  # retired after its consumers moved on
    assert asyncapi.incompatible_changes(document, current) == []


def test_the_generated_document_is_the_committed_one(document: dict[str, Any]) -> None:
    """Regenerating changes nothing, so every version in it is the code's."""
    assert asyncapi.incompatible_changes(document, asyncapi.document()) == []
