"""The stand-in's own ``/_sandbox/`` routes: tokens, contacts and the other name-list entities.

Never logged, never rate limited (``sandbox.control``). Seeding goes through the same rules as the
API (names unique across Customer, Vendor and Employee): a test cannot build an impossible company.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from sandbox.quickbooks import faults
from sandbox.quickbooks.answers import fault_response, json_response, sandbox

PREFIX = "/_sandbox"
ENTITY_TYPES = ("Customer", "Vendor", "Employee")


def register(app: Flask) -> None:
    app.post(f"{PREFIX}/tokens")(issue_tokens)
    app.get(f"{PREFIX}/contacts")(list_contacts)
    app.post(f"{PREFIX}/contacts")(seed_contact)
    app.post(f"{PREFIX}/entities")(seed_entity)
    app.patch(f"{PREFIX}/contacts/<record_id>")(edit_contact)
    app.post(f"{PREFIX}/contacts/<record_id>/deactivate")(deactivate_contact)


def issue_tokens() -> Response:
    """As if the consent had just completed for ``tenant`` (a new realm when absent)."""
    state = sandbox()
    realm = state.store.realm(str(_body().get("tenant") or "") or None)
    pair = state.tokens.issue(realm.id)
    return json_response({**pair.to_json(), "tenant": realm.id})


def list_contacts() -> Response:
    """Every customer of the realm, inactive ones included, as the API shows them."""
    tenant = request.args.get("tenant", "")
    return json_response({"Customer": sandbox().store.everything(tenant)})


def seed_contact() -> Response:
    return _seed("Customer", _body())


def seed_entity() -> Response:
    """``{"tenant", "type": "Vendor"|"Employee"|"Customer", "DisplayName", …}``."""
    body = _body()
    entity = str(body.pop("type", "Customer"))
    if entity not in ENTITY_TYPES:
        return json_response({"error": f"type must be one of {', '.join(ENTITY_TYPES)}"}, 400)
    return _seed(entity, body)


def edit_contact(record_id: str) -> Response:
    """A change made by another user: sparse, and it moves the SyncToken on."""
    body = _body()
    tenant = str(body.pop("tenant", ""))
    try:
        customer = sandbox().store.edit(tenant, record_id, body)
    except faults.FaultError as error:
        return fault_response(error)
    return json_response({"Customer": customer})


def deactivate_contact(record_id: str) -> Response:
    tenant = str(_body().get("tenant") or request.args.get("tenant", ""))
    try:
        customer = sandbox().store.edit(tenant, record_id, {"Active": False})
    except faults.FaultError as error:
        return fault_response(error)
    return json_response({"Customer": customer})


def _seed(entity: str, body: dict[str, Any]) -> Response:
    tenant = str(body.pop("tenant", "") or "")
    active = body.pop("Active", True)
    store = sandbox().store
    try:
        record = store.create(tenant, body, entity=entity)
        if not active:
            record = store.edit(tenant, record["Id"], {"Active": False})
    except faults.FaultError as error:
        return fault_response(error)
    return json_response({entity: record, "tenant": tenant or None}, 201)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return dict(body) if isinstance(body, dict) else {}
