"""The QuickBooks stand-in's customer page at the web app's path (providers.md B7):
``/app/customerdetail?nameId={Id}``. The real link names no company, so every realm is searched;
``realmId`` narrows it where several companies hold the same Id."""
from __future__ import annotations

from flask import Flask, Response, request

from sandbox.pages import not_found_page, record_page
from sandbox.quickbooks.answers import sandbox

SYSTEM = "QuickBooks Online"


def register(app: Flask) -> None:
    app.get("/app/customerdetail")(customer_page)


def customer_page() -> Response:
    name_id = request.args.get("nameId", "")
    wanted_realm = request.args.get("realmId")
    store = sandbox().store
    with store.lock:
        for realm in store.realms.values():
            record = realm.records.get(name_id)
            if record is None or (wanted_realm and realm.id != wanted_realm):
                continue
            email = (record.get("PrimaryEmailAddr") or {}).get("Address")
            return record_page(record["DisplayName"], SYSTEM, [
                ("Company (realm)", realm.id), ("Id", record["Id"]), ("Type", record["_type"]),
                ("Active", "yes" if record.get("Active", True) else "no"),
                ("Company name", record.get("CompanyName")), ("Email", email),
            ])
    return not_found_page(SYSTEM, "customer")
