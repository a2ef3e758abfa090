"""One OpenAPI document for the whole platform, merged from the documents the services publish."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.routes import HTTP_METHODS, Policy
from shared.contract import GATEWAY_PROBLEMS, POLICY_KEY, add_problem_answers

TITLE = "智慧团建 API"
PREFIX = "/api/v1"
BEARER = "bearerAuth"


def _rewrite_refs(value: Any, refs: Mapping[str, str]) -> Any:
    if not refs:
        return value
    if isinstance(value, Mapping):
        return {
            key: refs.get(item, item)
            if key == "$ref" and isinstance(item, str)
            else _rewrite_refs(item, refs)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_refs(item, refs) for item in value]
    return value


def _sections(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    components = document.get("components")
    if not isinstance(components, Mapping):
        return {}
    return {s: e for s, e in components.items() if isinstance(e, Mapping)}


def _renames(
    service: str,
    sections: Mapping[str, Mapping[str, Any]],
    merged: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """References to rename so that a same-named but different component keeps its meaning.

    Same name and same content is one component (FastAPI's HTTPValidationError, say). The
    comparison is made after renaming, so a schema that refers to a renamed one is renamed too;
    repeated until nothing changes.
    """
    refs: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for section, entries in sections.items():
            for name, value in entries.items():
                ref = f"#/components/{section}/{name}"
                existing = merged.get(section, {}).get(name)
                if ref in refs or existing is None:
                    continue
                if existing != _rewrite_refs(value, refs):
                    refs[ref] = f"#/components/{section}/{service}.{name}"
                    changed = True
    return refs


def merge_documents(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every service's paths under /api/v1 and their components, in the mapping's order."""
    components: dict[str, dict[str, Any]] = {}
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, Any] = {}
    version = "3.1.0"
    for service, document in documents.items():
        version = str(document.get("openapi", version))
        sections = _sections(document)
        refs = _renames(service, sections, components)
        for section, entries in sections.items():
            target = components.setdefault(section, {})
            for name, value in entries.items():
                renamed = refs.get(f"#/components/{section}/{name}")
                new_name = renamed.rsplit("/", 1)[1] if renamed else name
                target.setdefault(new_name, _rewrite_refs(value, refs))
        raw_paths = document.get("paths")
        for path, item in (raw_paths if isinstance(raw_paths, Mapping) else {}).items():
            if not isinstance(item, Mapping):
                continue
            target = paths.setdefault(PREFIX + str(path), {})
            for key, value in _rewrite_refs(item, refs).items():
                if key.upper() in HTTP_METHODS and isinstance(value, dict):
                    value = _with_security(value)
                # The route table keeps the first service's operation too: document that one.
                target.setdefault(key, value)
        for tag in document.get("tags") or []:
            if isinstance(tag, Mapping) and "name" in tag:
                tags.setdefault(str(tag["name"]), tag)
    components.setdefault("securitySchemes", {}).setdefault(
        BEARER, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    merged: dict[str, Any] = {
        "openapi": version,
        "info": {"title": TITLE, "version": "1.0.0"},
        "paths": paths,
        "components": components,
    }
    if tags:
        merged["tags"] = list(tags.values())
    return merged


def _with_security(operation: dict[str, Any]) -> dict[str, Any]:
    if "security" in operation or Policy.from_extension(operation.get(POLICY_KEY)).public:
        return operation
    return {**operation, "security": [{BEARER: []}]}


def public_contract(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What GET /api/v1/openapi.json answers: the services' documents merged, each operation with
    its problem answers and the gateway's own (400, 429, 503; 413 for bodies)."""
    return add_problem_answers(merge_documents(documents), extra=GATEWAY_PROBLEMS, body_limit=True)
