"""The stand-in's own ``/_sandbox/`` routes: tokens, contacts and the other name-list entities.

Never logged, never rate limited (``sandbox.control``). Seeding goes through the same rules as the
API (names unique across Customer, Vendor and Employee): a test cannot build an impossible company.

What people do in the web app (interface §9): ``PATCH /_sandbox/contacts/<id>`` (a hand edit),
``POST /_sandbox/contacts/<id>/deactivate``, ``POST /_sandbox/delete`` and ``POST
/_sandbox/merge``; each, like every API write, is notified to the webhook subscriptions
(``POST /_sandbox/webhooks``; deliveries and their attempts at ``GET /_sandbox/webhooks``).
How the company was set up: ``POST /_sandbox/preferences`` (home currency, multicurrency).
``POST /_sandbox/clock`` moves the company's clock (a change made days ago).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, Response, request

from sandbox.quickbooks import faults
from sandbox.quickbooks.answers import fault_response, json_response, sandbox
from sandbox.quickbooks.events import Change, notify, stamp_of
from sandbox.quickbooks.store import HOME_CURRENCIES

PREFIX = "/_sandbox"
ENTITY_TYPES = ("Customer", "Vendor", "Employee")


def register(app: Flask) -> None:
    app.post(f"{PREFIX}/tokens")(issue_tokens)
    app.get(f"{PREFIX}/contacts")(list_contacts)
    app.post(f"{PREFIX}/contacts")(seed_contact)
    app.post(f"{PREFIX}/entities")(seed_entity)
    app.patch(f"{PREFIX}/contacts/<record_id>")(edit_contact)
    app.post(f"{PREFIX}/contacts/<record_id>/deactivate")(deactivate_contact)
    app.post(f"{PREFIX}/delete")(delete_contact)
    app.post(f"{PREFIX}/merge")(merge_contacts)
    app.post(f"{PREFIX}/webhooks")(subscribe)
    app.get(f"{PREFIX}/webhooks")(deliveries)
    app.post(f"{PREFIX}/preferences")(set_preferences)
    app.post(f"{PREFIX}/clock")(set_clock)


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
    notify(sandbox().webhooks, tenant, [Change(record_id, "Update", last_updated=stamp_of(customer))])
    return json_response({"Customer": customer})


def deactivate_contact(record_id: str) -> Response:
    """Made inactive in the web app. Reported as an ``Update`` (the customer reads back with
    ``Active: false``); whether QuickBooks reports it as ``Delete`` is unconfirmed."""
    tenant = str(_body().get("tenant") or request.args.get("tenant", ""))
    try:
        customer = sandbox().store.edit(tenant, record_id, {"Active": False})
    except faults.FaultError as error:
        return fault_response(error)
    notify(sandbox().webhooks, tenant, [Change(record_id, "Update", last_updated=stamp_of(customer))])
    return json_response({"Customer": customer})


def delete_contact() -> Response:
    """``{"tenant", "contact_id"}``: the record is gone (reads answer 610, CDC shows it
    ``Deleted``), and a ``Delete`` notification is sent."""
    body = _body()
    tenant, record_id = str(body.get("tenant") or ""), str(body.get("contact_id") or "")
    try:
        gone = sandbox().store.delete(tenant, record_id)
    except faults.FaultError as error:
        return fault_response(error)
    notify(sandbox().webhooks, tenant, [Change(record_id, "Delete", last_updated=gone.get("deleted_at"))])
    return json_response({"deleted": gone})


def merge_contacts() -> Response:
    """``{"tenant", "from", "into"}``: ``from`` is merged into ``into``; one ``Merge``
    notification names the survivor with ``deletedId`` (QW2)."""
    body = _body()
    tenant = str(body.get("tenant") or "")
    loser, survivor = str(body.get("from") or ""), str(body.get("into") or "")
    try:
        customer = sandbox().store.merge(tenant, loser, survivor)
    except faults.FaultError as error:
        return fault_response(error)
    notify(sandbox().webhooks, tenant, [Change(survivor, "Merge", deleted_id=loser,
                                               last_updated=stamp_of(customer))])
    return json_response({"Customer": customer})


def subscribe() -> Response:
    """``{"url", "verifier_token", "realm"?}``: the app's webhook endpoint (all its connected
    companies, or only ``realm``). ``{"url", "secret", "tenant"?}`` says the same in the body
    every stand-in takes (``make run``'s demo subscribes them alike)."""
    body = _body()
    token = body.get("verifier_token") or body.get("secret")
    if not body.get("url") or not token:
        return json_response({"error": "url and verifier_token are required"}, 400)
    realm = body.get("realm") or body.get("tenant")
    found = sandbox().webhooks.subscribe(str(body["url"]), str(token), str(realm) if realm else None)
    return json_response(found.public(), 201)


def deliveries() -> Response:
    return json_response(sandbox().webhooks.listing())


def set_preferences() -> Response:
    """``{"tenant", "home_currency"?, "multicurrency"?}``: the company as it was set up (its
    home currency, multicurrency on or off), as ``select * from Preferences`` then answers."""
    body = _body()
    realm = sandbox().store.realm(str(body.get("tenant") or "") or None)
    code = str(body.get("home_currency") or realm.home_currency[0]).upper()
    if code not in HOME_CURRENCIES:
        return json_response({"error": f"home_currency must be one of {', '.join(HOME_CURRENCIES)}"}, 400)
    with sandbox().store.lock:
        realm.home_currency = (code, HOME_CURRENCIES[code])
        realm.multicurrency = bool(body.get("multicurrency", realm.multicurrency))
    return json_response({"Preferences": realm.preferences(), "tenant": realm.id})


def set_clock() -> Response:
    """``{"shift_seconds", "to_the_second"?}``: move the stand-in's clock (negative: into the
    past; 0: back to the real time; ``/_sandbox/reset`` does too). Every change is stamped on
    this clock, and Change Data Capture's 30 days count from it: a hand edit "40 days ago" is
    made with the clock moved back, then the clock is set to 0. ``to_the_second`` stamps changes
    without milliseconds, as Intuit's documented samples show ``LastUpdatedTime``."""
    body = _body()
    raw = body.get("shift_seconds", 0)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return json_response({"error": "shift_seconds must be a number"}, 400)
    whole = body.get("to_the_second", False)
    if not isinstance(whole, bool):
        return json_response({"error": "to_the_second must be true or false"}, 400)
    store = sandbox().store
    with store.lock:
        store.shift = timedelta(seconds=raw)
        store.to_the_second = whole
    return json_response({"now": store.stamp(), "shift_seconds": raw, "to_the_second": whole})


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
