"""``GET /api/openapi.json``: an OpenAPI 3 document that matches the routes the app serves."""
from __future__ import annotations

import re
from typing import Any, Iterator

METHODS = {"get", "post", "put", "patch", "delete"}


def api_routes(app: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every /api/* rule the app serves."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods if m.lower() in METHODS}
    return routes


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_document_describes_exactly_the_api_routes(app: Any, client: Any, admin: Any) -> None:
    # When the document is fetched
    response = client.get("/api/openapi.json", headers=admin)

    # Then it is OpenAPI 3 and its operations are exactly the /api/* routes of the app
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    described = {(path, method) for path, operations in document["paths"].items() for method in operations
                 if method in METHODS}
    served = api_routes(app)
    assert served - described == set(), "served but not described"
    assert described - served == set(), "described but not served"


def test_every_operation_is_complete_and_every_reference_resolves(client: Any, admin: Any) -> None:
    document = client.get("/api/openapi.json", headers=admin).get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"] and operation["responses"], (path, method)
            assert "401" in operation["responses"], (path, method)
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{([a-z_]+)}", path)), (path, method)
    for ref in set(refs(document)):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert node, ref
    assert document["components"]["securitySchemes"]["admin"] == {"type": "http", "scheme": "bearer"}


def test_schemas_come_from_the_marshmallow_schemas_and_hide_secrets(client: Any, admin: Any) -> None:
    schemas = client.get("/api/openapi.json", headers=admin).get_json()["components"]["schemas"]
    assert set(schemas["Event"]["properties"]) >= {"id", "status", "attempts", "attempt_history", "outcome",
                                                   "last_error", "payload", "received_at"}
    assert schemas["ReplayFilter"]["properties"]["status"]["enum"] == ["failed", "retrying", "skipped", "succeeded"]
    assert "api_key" in schemas["Source"]["properties"]  # write-only input
    assert schemas["Source"]["properties"]["api_key"].get("writeOnly") is True
    assert "api_key" not in str(schemas["Integration"])


def test_document_needs_the_admin_token(client: Any) -> None:
    assert client.get("/api/openapi.json").status_code == 401
