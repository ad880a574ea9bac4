"""What people do on the Xero side, and the signed webhooks Xero sends about it (interface §9–§10).

Control routes (never logged, never rate limited):

- ``POST /_sandbox/contacts/<id>`` ``{"tenant", ...Contact fields}``: a hand edit, under the
  API's own rules (an edit to a taken name is refused the same way);
- ``POST /_sandbox/archive`` ``{"tenant", "contact_id"}``; ``POST /_sandbox/delete`` (the same
  body; Xero cannot delete a contact, so this plays a GDPR erasure: reads answer 404);
- ``POST /_sandbox/merge`` ``{"tenant", "from", "into"}``: ``from`` is archived with
  ``MergedToContactID`` = ``into``;
- ``POST /_sandbox/webhooks`` ``{"url", "key", "tenant"?}`` (or ``"secret"`` for ``"key"``, the
  body the QuickBooks stand-in takes too): subscribe (Xero's per-app webhook;
  ``tenant`` narrows it to one organisation); ``GET /_sandbox/webhooks``: subscriptions and every
  delivery with its attempts; ``POST /_sandbox/webhooks/<id>/intent``: Xero's intent-to-receive
  check (one correctly and one wrongly signed empty delivery; the subscription stays active only
  if they are answered 200 and 401).

Every change, from the API or from these routes, is sent as a ``CONTACT`` event (``CREATE`` or
``UPDATE``; an archive, a merge and an erasure are ``UPDATE``s, as Xero reports archiving).
"""
from __future__ import annotations

from typing import Any

from flask import Flask, request

from sandbox.control import CONTROL_PREFIX
from sandbox.xero import contacts as shapes
from sandbox.xero.events import intent_to_receive, notify
from sandbox.xero.state import XeroState


def install(app: Flask, state: XeroState) -> None:
    def body() -> dict[str, Any]:
        given = request.get_json(silent=True)
        return given if isinstance(given, dict) else {}

    def missing() -> tuple[dict[str, str], int]:
        return {"error": "no such contact"}, 404

    @app.post(CONTROL_PREFIX + "contacts/<contact_id>")
    def _edit(contact_id: str) -> Any:
        given = body()
        tenant = state.tenant(given.pop("tenant", None))
        if contact_id.lower() not in tenant.contacts:
            return missing()
        try:
            shapes.check_element(given)
        except shapes.PostDataInvalid as error:
            return {"error": str(error)}, 400
        [result] = state.write(tenant, [given], upsert=True, contact_id=contact_id.lower())
        if not result.ok:
            return {"error": "refused", "Elements": [result.echo]}, 400
        notify(state, tenant.id, [(contact_id.lower(), "UPDATE")])
        return shapes.render(result.contact or {}, with_merge=True)

    @app.post(CONTROL_PREFIX + "archive")
    def _archive() -> Any:
        given = body()
        tenant = state.tenant(given.get("tenant"))
        try:
            contact = state.archive(tenant, str(given.get("contact_id", "")))
        except KeyError:
            return missing()
        notify(state, tenant.id, [(contact["ContactID"], "UPDATE")])
        return shapes.render(contact, with_merge=True)

    @app.post(CONTROL_PREFIX + "delete")
    def _delete() -> Any:
        given = body()
        tenant = state.tenant(given.get("tenant"))
        try:
            contact = state.delete(tenant, str(given.get("contact_id", "")))
        except KeyError:
            return missing()
        notify(state, tenant.id, [(contact["ContactID"], "UPDATE")])
        return "", 204

    @app.post(CONTROL_PREFIX + "merge")
    def _merge() -> Any:
        given = body()
        tenant = state.tenant(given.get("tenant"))
        try:
            merged = state.merge(tenant, str(given.get("from", "")), str(given.get("into", "")))
        except KeyError:
            return missing()
        notify(state, tenant.id, [(merged["ContactID"], "UPDATE"),
                                  (merged["MergedToContactID"], "UPDATE")])
        return shapes.render(merged, with_merge=True)

    @app.post(CONTROL_PREFIX + "webhooks")
    def _subscribe() -> Any:
        given = body()
        key = given.get("key") or given.get("secret")  # "secret": the body every stand-in takes
        if not given.get("url") or not key:
            return {"error": "url and key are required"}, 400
        tenant = str(given["tenant"]).lower() if given.get("tenant") else None
        return state.webhooks.subscribe(str(given["url"]), str(key), tenant).public(), 201

    @app.get(CONTROL_PREFIX + "webhooks")
    def _deliveries() -> Any:
        return state.webhooks.listing()

    @app.post(CONTROL_PREFIX + "webhooks/<int:subscription_id>/intent")
    def _intent(subscription_id: int) -> Any:
        found = next((s for s in state.webhooks.subscriptions if s.id == subscription_id), None)
        if found is None:
            return {"error": "no such subscription"}, 404
        return intent_to_receive(state, found)
