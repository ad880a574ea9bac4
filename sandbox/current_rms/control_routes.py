"""The stand-in's own ``/_sandbox/`` routes: accounts, seeds, web-UI edits, re-fired webhooks.

Like every control route (sandbox.control), these are neither logged nor rate limited.
Seeds make no action and fire no webhook; an edit "in the web interface" fires
``member_update`` as a person's edit would.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from sandbox.control import CONTROL_PREFIX
from sandbox.current_rms.delivery import WebhookDeliverer
from sandbox.current_rms.records import Unprocessable
from sandbox.current_rms.state import RentalState

#: Name prefix of the organisations made by ``POST /_sandbox/members/bulk``.
DEFAULT_BULK_PREFIX = "Bulk Organisation"


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def install_control_routes(app: Flask, state: RentalState, deliverer: WebhookDeliverer) -> None:
    @app.errorhandler(Unprocessable)
    def _unprocessable(error: Unprocessable) -> Any:
        return {"errors": error.messages}, 422

    @app.post(CONTROL_PREFIX + "accounts")
    def put_account() -> Any:
        body = _body()
        if not body.get("subdomain") or not body.get("api_key"):
            raise Unprocessable(["subdomain and api_key are required"])
        created = state.put_account(str(body["subdomain"]), str(body["api_key"]))
        return {"subdomain": body["subdomain"]}, 201 if created else 200

    @app.get(CONTROL_PREFIX + "members")
    def all_members() -> Any:
        return {"members": state.all_members(request.args.get("subdomain", ""))}

    @app.post(CONTROL_PREFIX + "members")
    def seed_member() -> Any:
        body = _body()
        member = state.seed_member(str(body.get("subdomain", "")), body.get("member") or {})
        return {"member": member}, 201

    @app.post(CONTROL_PREFIX + "members/bulk")
    def bulk_members() -> Any:
        body = _body()
        subdomain, prefix = str(body.get("subdomain", "")), body.get("prefix") or DEFAULT_BULK_PREFIX
        ids = [state.seed_member(subdomain, _bulk_organisation(prefix, n))["id"]
               for n in range(1, int(body.get("count", 0)) + 1)]
        return {"created": len(ids), "ids": ids}, 201

    @app.post(CONTROL_PREFIX + "members/<int:member_id>/edit")
    def edit_member(member_id: int) -> Any:
        body = _body()
        subdomain = str(body.get("subdomain", ""))
        member = state.update_member(subdomain, member_id, body.get("changes") or {})
        if member is None:
            return {"errors": ["Member not found"]}, 404
        return {"member": member, **deliverer.fire(subdomain, member, "update")}

    @app.post(CONTROL_PREFIX + "deliver")
    def deliver() -> Any:
        body = _body()
        subdomain = str(body.get("subdomain", ""))
        member = state.get_member(subdomain, int(body.get("member_id") or 0))
        if member is None:
            return {"errors": ["Member not found"]}, 404
        return deliverer.fire(subdomain, member, body.get("action_type") or "update",
                              deliver=True)

    @app.post(CONTROL_PREFIX + "wait")
    def wait_for_deliveries() -> Response | Any:
        """Block until queued deliveries are done (scripts that run the stand-in out of process)."""
        done = deliverer.wait_idle(float(_body().get("timeout", 5.0)))
        return {"idle": done}, 200 if done else 504


def _bulk_organisation(prefix: str, number: int) -> dict[str, Any]:
    return {
        "name": f"{prefix} {number:05d}", "membership_type": "Organisation",
        "primary_address": {"street": f"{number} Bulk Street", "city": "Auckland",
                            "postcode": "1010", "country_id": 16700},
        "emails": [{"address": f"accounts{number}@bulk.example", "type_id": 4001}],
        "membership": {"number": f"BULK-{number:05d}"},
    }
