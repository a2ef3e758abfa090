"""The event catalogue: an AsyncAPI 3 document generated from the event classes in
`shared/events.py` and the services' subscriptions.

Channels are routing keys on the `league.events` topic exchange; each event version is a message
whose payload is the envelope with the event's fields in `data`; a `send` operation names the
producing service, a `receive` operation each consuming service and its queue.

The committed document is also the baseline of compatibility: an event version's schema may
change only in its words (titles, descriptions). Events are read with `extra="forbid"`, so even
an added optional field breaks a consumer on the old code; a change of fields is a new version
class beside the old one (deploy/README.md, "A contract change").
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any, cast

from deploy.launcher.table import SERVICES
from shared import events
from shared.bus import EVENTS_EXCHANGE
from shared.process import ServiceSpec, build_resources

Object = dict[str, Any]
SCHEMAS = "#/components/schemas/"
# The one service that owns each event family (one owner per type: ARCHITECTURE.md).
PRODUCERS = {
    "account": "identity",
    "org": "org",
    "member": "members",
    "fee": "fees",
    "transfer": "transfers",
    "announcement": "activities",
    "rectification": "org",
}
WORDS = frozenset({"title", "description", "examples"})


class Incompatible(Exception):
    """An existing event version's schema changed in more than its words."""


def producer_of(event_type: str) -> str:
    return PRODUCERS[event_type.split(".", 1)[0]]


def message_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def consumers() -> dict[str, list[tuple[str, str]]]:
    """Event type -> (service, queue) of every subscription: each service's own table, built as
    its processes build it (an engine is made but never connects)."""

    async def subscriptions_of(spec: ServiceSpec) -> list[tuple[str, list[str]]]:
        resources = build_resources(spec.settings)
        try:
            return [(s.queue, s.event_types) for s in spec.subscriptions(resources)]
        finally:
            await resources.engine.dispose()

    from gateway.handlers import state_handlers

    found: dict[str, list[tuple[str, str]]] = {}
    # Every gateway instance keeps its own copy of the tree, frozen accounts and maintenance
    # windows, each from its own queue (the handlers' state is not needed to list their types).
    for event_type in state_handlers(cast(Any, None), cast(Any, None), cast(Any, None)):
        found.setdefault(event_type, []).append(("gateway", "gateway.{instance}.state"))
    for service in SERVICES:
        spec = importlib.import_module(f"{service.name}.main").make_spec()
        for queue, types in asyncio.run(subscriptions_of(spec)):
            for event_type in types:
                found.setdefault(event_type, []).append((service.name, queue))
    return found


def catalogued() -> list[tuple[tuple[str, int], type[events.Event]]]:
    """The events of shared/events.py. A service's commands (fees' GenerateBills, activities'
    FanOutNotices) use the same envelope but go to its own work queue, not the exchange: they
    are no contract between services."""
    return sorted(
        (key, cls) for key, cls in events._REGISTRY.items() if cls.__module__ == events.__name__
    )


def _schemas() -> tuple[dict[tuple[str, int], Object], Object]:
    """Each event version's schema (references into components), and the shared definitions."""
    shared: Object = {}
    per_event: dict[tuple[str, int], Object] = {}
    for (event_type, version), cls in catalogued():
        schema = cls.model_json_schema(ref_template=SCHEMAS + "{model}")
        shared.update(schema.pop("$defs", {}))
        per_event[(event_type, version)] = schema
    return per_event, shared


def _envelope(event_type: str, version: int) -> Object:
    return {
        "type": "object",
        "required": ["id", "type", "version", "occurred_at", "producer", "data"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "message id; the inbox key"},
            "type": {"const": event_type},
            "version": {"const": version},
            "occurred_at": {"type": "string", "format": "date-time"},
            "producer": {"const": producer_of(event_type)},
            "data": {"$ref": SCHEMAS + message_name(event_type, version)},
        },
    }


def document() -> Object:
    per_event, shared = _schemas()
    consumed = consumers()
    channels: Object = {}
    operations: Object = {}
    messages: Object = {}
    schemas: Object = dict(sorted(shared.items()))
    for (event_type, version), schema in per_event.items():
        name = message_name(event_type, version)
        schemas[name] = schema
        schemas[f"{name}.envelope"] = _envelope(event_type, version)
        messages[name] = {
            "name": event_type,
            "title": f"{event_type} v{version}",
            "summary": (schema.get("description") or "").split("\n")[0],
            "contentType": "application/json",
            "payload": {"$ref": f"{SCHEMAS}{name}.envelope"},
            # The AMQP message binding knows only contentEncoding and messageType; persistence
            # (deliveryMode 2) is the sending operation's.
            "bindings": {"amqp": {"messageType": event_type, "bindingVersion": "0.3.0"}},
        }
        channel = channels.setdefault(
            event_type,
            {
                "address": event_type,
                "messages": {},
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {"name": EVENTS_EXCHANGE, "type": "topic", "durable": True},
                        "bindingVersion": "0.3.0",
                    }
                },
            },
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for event_type, channel in channels.items():
        refs = [{"$ref": f"#/channels/{event_type}/messages/{m}"} for m in channel["messages"]]
        ref = {"$ref": f"#/channels/{event_type}"}
        operations[f"{producer_of(event_type)}.send.{event_type}"] = {
            "action": "send",
            "channel": ref,
            "messages": refs,
            "summary": f"{producer_of(event_type)} writes it to its outbox; its relay publishes it",
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
        for service, queue in sorted(consumed.get(event_type, [])):
            operations[f"{service}.receive.{event_type}.{queue}"] = {
                "action": "receive",
                "channel": ref,
                "messages": refs,
                "summary": f"{service} consumes it from the queue {queue} (idempotent, inbox)",
                "bindings": {"amqp": {"bindingVersion": "0.3.0"}},
                "x-queue": queue,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "智慧团建 events",
            "version": "1.0.0",
            "description": (
                "Every event the services exchange through RabbitMQ. Generated by `python -m "
                "deploy.manifests` from shared/events.py and each service's subscriptions; "
                "`make test` checks it is current and that no existing event version changed "
                "its fields. Events carry no personal data (no ID numbers, phone numbers or "
                "incomes)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "rabbitmq:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "persistent messages, publisher confirms, quorum queues",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _fields(schema: Any) -> Any:
    """A schema without its words: what a consumer's validation depends on."""
    if isinstance(schema, dict):
        return {k: _fields(v) for k, v in schema.items() if k not in WORDS}
    if isinstance(schema, list):
        return [_fields(v) for v in schema]
    return schema


def incompatible_changes(committed: Object, current: Object) -> list[str]:
    """Event versions in both documents whose schemas differ in more than words (with the
    shared definitions they reference). A version that is gone was retired: allowed."""
    old = committed.get("components", {}).get("schemas", {})
    new = current["components"]["schemas"]
    changed = []
    for name in sorted(old):
        if name in new and _fields(old[name]) != _fields(new[name]):
            changed.append(name)
    return changed
