"""Finished spans to OTLP's protobuf bytes (`ExportTraceServiceRequest`), written directly.

Why: the SDK's encoder builds a protobuf object for every span, attribute and value before
serialising them, ~37 µs a span here, and hashes the resource through `json.dumps` for every
batch. Every process exports every span it makes (a cash payment makes five or six across the
gateway, fees and its relay), and the exporter thread's encoding holds the interpreter lock
that the request path waits for. Writing the wire format directly costs a fraction of that, and
the resource and scope headers are written once per process.

The bytes decode to the message the SDK's encoder builds (`tests/unit/test_span_wire.py` holds
that for every kind of value, event, link and status). Reference: opentelemetry-proto
`trace/v1/trace.proto`, `common/v1/common.proto`, `resource/v1/resource.proto`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
_FIXED32 = struct.Struct("<I").pack

# Span flags (trace.proto SpanFlags): whether the parent's remoteness is known, and whether it was.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


def _varint_of(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 on the wire: two's complement, ten bytes
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Lengths and small numbers, looked up: nearly every varint a span has is one of them.
_SMALL = [_varint_of(n) for n in range(1 << 14)]


def _varint(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < 16384 else _varint_of(value)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: a string, bytes or a message."""
    return tag + _varint(len(payload)) + payload


def _text(tag: bytes, value: str) -> bytes:
    return _field(tag, value.encode())


def _any_value(value: Any) -> bytes:
    """common.proto AnyValue; one of its fields is always written, even when it is empty."""
    if value is None:
        return b""  # an AnyValue with nothing set, as the SDK writes it
    if isinstance(value, str):
        return _text(b"\x0a", value)
    if isinstance(value, bool):  # before int: a bool is an int too
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(b"\x32", _attributes(b"\x0a", value))
    raise TypeError(f"no OTLP value for {type(value).__name__}")


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """Repeated KeyValue under `tag` (a span's, an event's, a link's, a resource's)."""
    if not attributes:
        return b""
    return b"".join(_field(tag, _key_value(key, value)) for key, value in attributes.items())


# Most attributes repeat from span to span (a method, a route, a statement's text): their
# encoding is kept. Bounded: values that never repeat (a path with an id in it) only pass through.
# Keyed by type too: True == 1 and hashes alike, but is written as another value.
_KEY_VALUES: dict[tuple[str, type, Any], bytes] = {}
_KEY_VALUES_KEPT = 4096


def _key_value(key: str, value: Any) -> bytes:
    """common.proto KeyValue."""
    kind = type(value)
    cacheable = kind in (str, int, bool)
    if cacheable:
        found = _KEY_VALUES.get((key, kind, value))
        if found is not None:
            return found
    encoded = _text(b"\x0a", str(key)) + _field(b"\x12", _any_value(value))
    if cacheable:
        if len(_KEY_VALUES) >= _KEY_VALUES_KEPT:
            _KEY_VALUES.clear()
        _KEY_VALUES[(key, kind, value)] = encoded
    return encoded


def _count(tag: bytes, value: int) -> bytes:
    return tag + _varint(value) if value else b""


def _flags(parent: SpanContext | None) -> int:
    return (
        _HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE
    )


def _trace_state(context: SpanContext) -> bytes:
    state = context.trace_state
    if not state:
        return b""
    return _text(b"\x1a", ",".join(f"{key}={value}" for key, value in state.items()))


def encode_span(span: ReadableSpan) -> bytes:
    """trace.proto Span, its fields in number order."""
    context = span.get_span_context()
    assert context is not None and span.start_time is not None and span.end_time is not None
    parent = span.parent
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
        _trace_state(context),
        b"\x22\x08" + parent.span_id.to_bytes(8, "big") if parent is not None else b"",
        _text(b"\x2a", span.name),
        b"\x30" + _varint(span.kind.value + 1),  # OTLP counts SpanKind from 1 (0: unspecified)
        b"\x39",
        _FIXED64(span.start_time),
        b"\x41",
        _FIXED64(span.end_time),
        _attributes(b"\x4a", span.attributes),
        _count(b"\x50", span.dropped_attributes),
    ]
    for event in span.events:
        parts.append(
            _field(
                b"\x5a",
                b"\x09"
                + _FIXED64(event.timestamp)
                + _text(b"\x12", event.name)
                + _attributes(b"\x1a", event.attributes)
                + _count(b"\x20", event.dropped_attributes),
            )
        )
    parts.append(_count(b"\x60", span.dropped_events))
    for link in span.links:
        parts.append(
            _field(
                b"\x6a",
                b"\x0a\x10"
                + link.context.trace_id.to_bytes(16, "big")
                + b"\x12\x08"
                + link.context.span_id.to_bytes(8, "big")
                + _attributes(b"\x22", link.attributes)
                + _count(b"\x28", link.dropped_attributes)
                + b"\x35"
                + _FIXED32(_flags(link.context)),
            )
        )
    parts.append(_count(b"\x70", span.dropped_links))
    status = span.status
    description = status.description
    parts.append(
        _field(
            b"\x7a",
            (_text(b"\x12", description) if description else b"")
            + _count(b"\x18", status.status_code.value),
        )
    )
    parts.append(b"\x85\x01" + _FIXED32(_flags(parent)))  # field 16, fixed32
    return b"".join(parts)


# A resource is keyed by identity: it hashes itself through json.dumps, once per span otherwise,
# and a process has one, living as long as it does (kept here too). Scopes hash cheaply and are
# keyed by equality, as the SDK's encoder groups them (every `get_tracer` makes a new one).
_RESOURCE_HEADS: dict[int, tuple[Resource, bytes]] = {}
_SCOPE_HEADS: dict[InstrumentationScope | None, bytes] = {}


def _resource_head(resource: Resource) -> bytes:
    """ResourceSpans' field 1, the resource: the same for every batch of a process."""
    kept = _RESOURCE_HEADS.get(id(resource))
    if kept is None or kept[0] is not resource:
        kept = (resource, _field(b"\x0a", _attributes(b"\x0a", resource.attributes)))
        _RESOURCE_HEADS[id(resource)] = kept
    return kept[1]


def _scope_head(scope: InstrumentationScope | None) -> bytes:
    """ScopeSpans' field 1, the instrumentation scope (empty, but present, when there is none)."""
    head = _SCOPE_HEADS.get(scope)
    if head is None:
        head = _SCOPE_HEADS[scope] = _scope_bytes(scope)
    return head


def _scope_bytes(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return b"\x0a\x00"
    body = _text(b"\x0a", scope.name) if scope.name else b""
    if scope.version:
        body += _text(b"\x12", scope.version)
    body += _attributes(b"\x1a", scope.attributes)
    return _field(b"\x0a", body)


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """An ExportTraceServiceRequest: spans grouped by resource, then scope, in first-seen order."""
    resources: dict[int, Resource] = {}
    grouped: dict[int, dict[InstrumentationScope | None, list[bytes]]] = {}
    for span in spans:
        resources.setdefault(id(span.resource), span.resource)
        by_scope = grouped.setdefault(id(span.resource), {})
        by_scope.setdefault(span.instrumentation_scope or None, []).append(encode_span(span))
    out = []
    for resource_id, by_scope in grouped.items():
        resource = resources[resource_id]
        body = [_resource_head(resource)]
        for scope, encoded in by_scope.items():
            scope_body = _scope_head(scope) + b"".join(_field(b"\x12", s) for s in encoded)
            if scope is not None and scope.schema_url:
                scope_body += _text(b"\x1a", scope.schema_url)
            body.append(_field(b"\x12", scope_body))
        if resource.schema_url:
            body.append(_text(b"\x1a", resource.schema_url))
        out.append(_field(b"\x0a", b"".join(body)))
    return b"".join(out)
