"""Real answers of the views validate against the OpenAPI document's schemas (closed objects:
a key a view adds and the document does not describe fails here)."""
from __future__ import annotations

import copy
from typing import Any

import jsonschema

from core.alert_settings import AlertSettings
from core.alerts import detect
from core.store import integrations
from tests.support import create_integration, seed_organisation, send_webhook


def _json_schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0 to JSON Schema: ``nullable`` becomes a null type; refs resolve in place."""
    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                return convert(copy.deepcopy(document["components"]["schemas"][name]))
            out = {key: convert(value) for key, value in node.items() if key != "nullable"}
            if node.get("nullable") and "type" in out:
                out["type"] = [out["type"], "null"]
            return out
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node
    return convert(schema)


def _check(document: dict[str, Any], path: str, method: str, status: str, answer: Any) -> None:
    schema = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    jsonschema.validate(answer, _json_schema(document, schema))


def test_answers_match_the_document(client, admin, sandbox, rt) -> None:
    document = client.get("/api/openapi.json", headers=admin).get_json()
    integration = create_integration(client, admin, sandbox)
    _check(document, "/api/integrations", "post", "201", {k: v for k, v in integration.items()
                                                          if k not in ("subdomain", "api_key", "tenant")})
    _check(document, "/api/integrations", "get", "200", client.get("/api/integrations", headers=admin).get_json())
    path = f"/api/integrations/{integration['id']}"
    _check(document, "/api/integrations/{integration_id}/register-webhooks", "post", "200",
           client.post(f"{path}/register-webhooks", headers=admin).get_json())
    rotated = client.post(f"{path}/rotate-webhook-token", headers=admin).get_json()
    _check(document, "/api/integrations/{integration_id}/rotate-webhook-token", "post", "200", rotated)
    integration["webhook_url"] = rotated["webhook_url"]

    member = seed_organisation(sandbox, integration["subdomain"])
    event_id = send_webhook(client, integration, member["id"]).get_json()["event_id"]
    _check(document, "/api/events", "get", "200", client.get("/api/events", headers=admin).get_json())
    _check(document, "/api/events/{event_id}", "get", "200", client.get(f"/api/events/{event_id}", headers=admin).get_json())
    _check(document, "/api/integrations/{integration_id}/links", "get", "200",
           client.get(f"{path}/links", headers=admin).get_json())

    integrations.set_status(rt.db, integration["id"], "reconnect_needed", "refused")
    detect.run_pass(rt, AlertSettings.from_env({"ALERT_WEBHOOK_URLS": "http://127.0.0.1:9/x"}))
    alerts = client.get("/api/alerts", headers=admin).get_json()
    assert alerts["alerts"]
    _check(document, "/api/alerts", "get", "200", alerts)


def test_a_405_names_the_allowed_methods(client, admin) -> None:
    answer = client.put("/api/events", headers=admin)
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}
