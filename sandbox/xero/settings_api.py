"""The settings routes of the Xero stand-in's API: currencies, accounts, contact groups
(``sandbox.xero.settings`` says what they hold). Behind the same token, tenant and limits as
every Accounting API call."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, request

from sandbox.xero import settings
from sandbox.xero.state import XeroState


def install(api: Blueprint, state: XeroState, *, answer: Any, envelope: Any,
            exception: Any, not_found: Any) -> None:
    @api.get("/Currencies")
    def currencies() -> Response:
        return answer(envelope(Currencies=settings.currencies()))

    @api.get("/Accounts")
    def accounts() -> Response:
        return answer(envelope(Accounts=settings.accounts()))

    @api.get("/ContactGroups")
    def groups() -> Response:
        tenant = state.tenant(g.xero_tenant)
        with state.lock:
            # "Only contact groups with a status of ACTIVE are returned on GETs" (spec).
            shown = [settings.group_summary(x) for x in tenant.groups.values() if x["Status"] == "ACTIVE"]
        return answer(envelope(ContactGroups=shown))

    @api.put("/ContactGroups")
    def create_groups() -> Response:
        given = _body().get("ContactGroups")
        if not isinstance(given, list) or not all(isinstance(x, dict) and x.get("Name") for x in given):
            return exception(10, "ValidationException", "A contact group needs a Name")
        tenant = state.tenant(g.xero_tenant)
        made = [state.add_group(tenant, str(x["Name"]).strip()) for x in given]
        return answer(envelope(ContactGroups=[settings.group_summary(x) for x in made]))

    @api.get("/ContactGroups/<group_id>")
    def group(group_id: str) -> Response:
        tenant = state.tenant(g.xero_tenant)
        with state.lock:
            found = tenant.groups.get(group_id.lower())
            if found is None:
                return not_found()
            members = [{"ContactID": c, "Name": tenant.contacts[c]["Name"]}
                       for c in found["contact_ids"] if c in tenant.contacts]
            return answer(envelope(ContactGroups=[{**settings.group_summary(found), "Contacts": members}]))

    @api.put("/ContactGroups/<group_id>/Contacts")
    def join(group_id: str) -> Response:
        given = _body().get("Contacts")
        if not isinstance(given, list) or not all(isinstance(x, dict) and x.get("ContactID") for x in given):
            return exception(10, "ValidationException", "Contacts must name each ContactID")
        try:
            joined = state.join_group(state.tenant(g.xero_tenant), group_id,
                                      [str(x["ContactID"]) for x in given])
        except KeyError:
            return not_found()
        return answer(envelope(Contacts=[{"ContactID": c["ContactID"], "Name": c["Name"]}
                                         for c in joined]))

    @api.delete("/ContactGroups/<group_id>/Contacts/<contact_id>")
    def leave(group_id: str, contact_id: str) -> Response:
        try:
            state.leave_group(state.tenant(g.xero_tenant), group_id, contact_id)
        except KeyError:
            return not_found()
        return Response(status=204)


def _body() -> dict[str, Any]:
    try:
        given = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        given = None
    return given if isinstance(given, dict) else {}

