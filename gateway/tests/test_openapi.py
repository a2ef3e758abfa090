"""The merged OpenAPI document: every service's paths under /api/v1, components kept apart."""

from __future__ import annotations

from typing import Any

from gateway.openapi import merge_documents


def _schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _doc(path: str, schemas: dict[str, Any], response: str, **extra: Any) -> dict[str, Any]:
    operation = {
        "responses": {"200": {"content": {"application/json": {"schema": _schema_ref(response)}}}},
        **extra,
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "svc", "version": "1"},
        "paths": {path: {"get": operation}},
        "components": {"schemas": schemas},
    }


ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}}


def test_paths_are_prefixed_and_title_is_the_platforms() -> None:
    merged = merge_documents(
        {"a": _doc("/orgs/{org_id}", {"Org": {"type": "object"}}, "Org")},
    )
    assert list(merged["paths"]) == ["/api/v1/orgs/{org_id}"]
    assert merged["info"]["title"] == "智慧团建 API"


def test_identical_schemas_are_shared_and_different_ones_are_renamed() -> None:
    a = _doc("/a", {"Item": {"type": "object", "title": "A item"}, "HTTPError": ERROR}, "Item")
    b = _doc("/b", {"Item": {"type": "string"}, "HTTPError": ERROR}, "Item")
    merged = merge_documents({"a": a, "b": b})
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"Item", "HTTPError", "b.Item"}
    assert schemas["Item"] == {"type": "object", "title": "A item"}
    assert schemas["b.Item"] == {"type": "string"}
    ref = merged["paths"]["/api/v1/b"]["get"]["responses"]["200"]["content"]
    assert ref["application/json"]["schema"] == _schema_ref("b.Item")


def test_schema_referring_to_a_renamed_schema_is_renamed_too() -> None:
    page = {"type": "object", "properties": {"items": {"items": _schema_ref("Item")}}}
    a = _doc("/a", {"Item": {"type": "object"}, "Page": page}, "Page")
    b = _doc("/b", {"Item": {"type": "string"}, "Page": page}, "Page")
    schemas = merge_documents({"a": a, "b": b})["components"]["schemas"]
    assert schemas["Page"]["properties"]["items"]["items"] == _schema_ref("Item")
    assert schemas["b.Page"]["properties"]["items"]["items"] == _schema_ref("b.Item")


def test_non_public_operations_declare_bearer_security() -> None:
    closed = _doc("/me", {"Me": {}}, "Me")
    opened = _doc("/auth/login", {"Me": {}}, "Me", **{"x-league": {"public": True}})
    merged = merge_documents({"a": closed, "b": opened})
    assert merged["paths"]["/api/v1/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in merged["paths"]["/api/v1/auth/login"]["get"]
    assert merged["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


async def test_gateway_serves_the_merged_document_of_its_services(running) -> None:
    response = await running.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    assert "/api/v1/orgs/{org_id}" in paths
    assert set(paths["/api/v1/orgs/{org_id}"]) == {"get", "patch"}
    assert "/api/v1/orgs/{id}/security-check" in paths
    assert "/api/v1/orgs/{branch_id}/members" in paths
    assert all(path.startswith("/api/v1/") for path in paths)
    assert not any("/internal/" in path for path in paths)
    assert "x-unavailable-services" not in document


async def test_document_names_services_it_could_not_include(running, world) -> None:
    world.down.add("fees")
    running.gateway.catalog.documents.pop("fees")
    document = (await running.client.get("/openapi.json")).json()
    assert document["x-unavailable-services"] == ["fees"]
