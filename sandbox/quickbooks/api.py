"""The API routes: customer write and read, vendor/employee read, query and batch (§B1, §B4).

Token, realm, rate limits and requestid replay are checked before these run (``app._guard``).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, request

from sandbox.quickbooks import faults, query
from sandbox.quickbooks.answers import fault_response, json_response, sandbox
from sandbox.quickbooks.events import Change, notify, stamp_of
from sandbox.quickbooks.store import CDC_WINDOW_DAYS

PREFIX = "/v3/company/<realm_id>"
#: Name-list entities a client may read by Id (a clash Detail names only the Id, §B3).
READABLE = {"customer": "Customer", "vendor": "Vendor", "employee": "Employee"}


def register(app: Flask) -> None:
    app.post(f"{PREFIX}/customer")(write_customer)
    app.get(f"{PREFIX}/cdc")(change_data_capture)
    app.get(f"{PREFIX}/<entity>/<record_id>")(read_entity)
    app.route(f"{PREFIX}/query", methods=["GET", "POST"])(run_query)
    app.post(f"{PREFIX}/batch")(run_batch)


def write_customer(realm_id: str) -> Response:
    try:
        body = _json_object()
        customer = sandbox().store.write_customer(realm_id, body)
    except faults.FaultError as error:
        return fault_response(error)
    _notify_write(realm_id, customer, updated=body.get("Id") not in (None, ""))
    return json_response({"Customer": customer, "time": faults.now_stamp()})


def change_data_capture(realm_id: str) -> Response:
    """``GET …/cdc?entities=Customer&changedSince=<ISO time>`` (QC1): 30 days back at most."""
    try:
        entities = [e.strip() for e in request.args.get("entities", "").split(",") if e.strip()]
        if not entities:
            raise faults.required("entities")
        unknown = [e for e in entities if e not in query.ENTITIES or e in query.LOOKUPS]
        if unknown:
            raise faults.unsupported(f"entities:{unknown[0]}")
        since = _changed_since(request.args.get("changedSince", ""))
        found = sandbox().store.changed_since(realm_id, entities, since)
    except faults.FaultError as error:
        return fault_response(error)
    return json_response({**found, "time": faults.now_stamp()})


def _changed_since(text: str) -> datetime:
    """An ISO 8601 time; a naive one is read as UTC (QuickBooks' reading of a naive time is
    unconfirmed: UTC is the earlier, safer moment for clients west of Greenwich)."""
    if not text:
        raise faults.required("changedSince")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise faults.unsupported("changedSince") from error
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment < sandbox().store.now() - timedelta(days=CDC_WINDOW_DAYS):
        # The 30-day limit is documented (QC1); this answer's code and wording are unconfirmed.
        raise faults.FaultError("2010", "Request has invalid or unsupported property",
                                f"changedSince must be within the last {CDC_WINDOW_DAYS} days",
                                element="changedSince")
    return moment


def _notify_write(realm_id: str, customer: dict[str, Any], *, updated: bool) -> None:
    # QuickBooks notifies every change, the app's own writes included (the receiver must
    # recognise its echo).
    operation = "Update" if updated else "Create"
    notify(sandbox().webhooks, realm_id, [Change(str(customer["Id"]), operation, last_updated=stamp_of(customer))])


def read_entity(realm_id: str, entity: str, record_id: str) -> Response:
    if entity not in READABLE:
        return json_response({"error": "not found"}, 404)
    try:
        record = sandbox().store.read(realm_id, READABLE[entity], record_id)
    except faults.FaultError as error:
        return fault_response(error)
    return json_response({READABLE[entity]: record, "time": faults.now_stamp()})


def run_query(realm_id: str) -> Response:
    # GET ?query=…, or POST with the query as an ``application/text`` body (§B1).
    text = request.args.get("query") if request.method == "GET" else request.get_data(as_text=True)
    try:
        if not text:
            raise faults.parse_error("no query given")
        found = sandbox().store.query(realm_id, text)
    except faults.FaultError as error:
        return fault_response(error)
    return json_response({"QueryResponse": found, "time": faults.now_stamp()})


def run_batch(realm_id: str) -> Response:
    """Items run one after another; each answers with its entity or its own Fault (§B4)."""
    state = sandbox()
    try:
        items = _json_object().get("BatchItemRequest")
        if not isinstance(items, list) or not items:
            raise faults.required("BatchItemRequest")
        if len(items) > state.max_batch_items:
            raise faults.batch_too_large(len(items), state.max_batch_items)
    except faults.FaultError as error:
        return fault_response(error)
    answers = [_batch_item(realm_id, item) for item in items]
    return json_response({"BatchItemResponse": answers, "time": faults.now_stamp()})


def _batch_item(realm_id: str, item: Any) -> dict[str, Any]:
    bid = item.get("bId") if isinstance(item, dict) else None
    try:
        return {"bId": bid, **_batch_operation(realm_id, item)}
    except faults.FaultError as error:
        return {"bId": bid, "Fault": error.fault()}


def _batch_operation(realm_id: str, item: Any) -> dict[str, Any]:
    store = sandbox().store
    if not isinstance(item, dict) or not item.get("bId"):
        raise faults.required("bId")
    operation = item.get("operation")
    body = item.get("Customer")
    if not isinstance(body, dict):
        # Only Customer items are modelled; query items in a batch are unconfirmed (§B4).
        raise faults.unsupported(next((k for k in item if k not in ("bId", "operation")), "entity"))
    if operation == "create":
        fresh = {k: v for k, v in body.items() if k != "Id"}
        created = store.create(realm_id, fresh, entity="Customer")
        _notify_write(realm_id, created, updated=False)
        return {"Customer": created}
    if operation == "update":
        updated = store.update(realm_id, body, entity="Customer")
        _notify_write(realm_id, updated, updated=True)
        return {"Customer": updated}
    # Customers cannot be deleted, only made inactive (§B1).
    raise faults.unsupported(f"operation:{operation}")


def _json_object() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise faults.unsupported("body: not a JSON object")
    return body
