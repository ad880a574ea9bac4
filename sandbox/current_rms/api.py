"""The API routes under ``/api/v1``: authentication, rate limit, members, webhooks.

the Current RMS API documentation §2: headers ``X-SUBDOMAIN`` and ``X-AUTH-TOKEN`` (some clients send
``?subdomain=&apikey=`` instead [3P], also accepted); 401 / 422 / 429 answers [3P]. Error bodies
are ``{"errors": ["..."]}``: 422 bodies carry ``errors`` (reference §2.1); the exact shape of
the 401 and 429 bodies is unconfirmed and follows the same form here.
"""
from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from sandbox.current_rms.delivery import WebhookDeliverer
from sandbox.current_rms.query import MemberQuery
from sandbox.current_rms.records import Unprocessable
from sandbox.current_rms.state import RentalState
from sandbox.limits import FixedWindow

API_PREFIX = "/api/v1"


class BadRequest(Exception):
    """Raised when the body is not JSON or lacks its wrapper key (Rails ``ParameterMissing``)."""


def errors(status: int, *messages: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"errors": list(messages)})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def wrapped_body(key: str) -> dict[str, Any]:
    """``{"<key>": {...}}``; the help centre's sample writes ``Webhook`` with a capital."""
    body = request.get_json(silent=True)
    inner = (body.get(key) or body.get(key.capitalize())) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise BadRequest(f"param is missing or the value is empty: {key}")
    return inner


def api_blueprint(state: RentalState, deliverer: WebhookDeliverer,
                  limiter: FixedWindow) -> Blueprint:
    api = Blueprint("current_rms_api", __name__, url_prefix=API_PREFIX)

    @api.before_request
    def _authenticate() -> Response | None:
        subdomain = request.headers.get("X-SUBDOMAIN") or request.args.get("subdomain", "")
        api_key = request.headers.get("X-AUTH-TOKEN") or request.args.get("apikey", "")
        if not state.authenticate(subdomain, api_key):
            return errors(401, "Invalid subdomain or API key")
        g.subdomain = subdomain
        wait = limiter.hit(subdomain)
        if wait is not None:  # figures unconfirmed (reference §2.1): off unless configured
            return errors(429, "Rate limit exceeded",
                          headers={"Retry-After": str(math.ceil(wait))})
        return None

    @api.errorhandler(Unprocessable)
    def _unprocessable(error: Unprocessable) -> Response:
        return errors(422, *error.messages)

    @api.errorhandler(BadRequest)
    def _bad_request(error: BadRequest) -> Response:
        return errors(400, str(error))

    _member_routes(api, state, deliverer)
    _webhook_routes(api, state)
    return api


def _member_routes(api: Blueprint, state: RentalState, deliverer: WebhookDeliverer) -> None:
    @api.get("/members")
    def list_members() -> Any:
        query = MemberQuery.from_args(request.args)
        rows, total = state.list_members(g.subdomain, query)
        meta = {"total_row_count": total, "row_count": len(rows),
                "page": query.page, "per_page": query.per_page}
        return {"members": rows, "meta": meta}

    @api.get("/members/<int:member_id>")
    def show_member(member_id: int) -> Any:
        member = state.get_member(g.subdomain, member_id)
        return {"member": member} if member else errors(404, "Member not found")

    @api.post("/members")
    def create_member() -> Any:
        member = state.create_member(g.subdomain, wrapped_body("member"))
        deliverer.fire(g.subdomain, member, "create")
        return {"member": member}, 201

    @api.put("/members/<int:member_id>")
    def update_member(member_id: int) -> Any:
        member = state.update_member(g.subdomain, member_id, wrapped_body("member"))
        if member is None:
            return errors(404, "Member not found")
        deliverer.fire(g.subdomain, member, "update")
        return {"member": member}

    @api.delete("/members/<int:member_id>")
    def delete_member(member_id: int) -> Any:
        member = state.delete_member(g.subdomain, member_id)
        if member is None:
            return errors(404, "Member not found")
        deliverer.fire(g.subdomain, member, "destroy")
        return "", 204


def _webhook_routes(api: Blueprint, state: RentalState) -> None:
    """Webhook registrations (reference §1.2): ``{"webhooks": [...]}``, ``{"webhook": {...}}``."""

    @api.get("/webhooks")
    def list_webhooks() -> Any:
        return {"webhooks": state.list_webhooks(g.subdomain)}

    @api.post("/webhooks")
    def create_webhook() -> Any:
        return {"webhook": state.create_webhook(g.subdomain, wrapped_body("webhook"))}, 201

    @api.get("/webhooks/<int:webhook_id>")
    def show_webhook(webhook_id: int) -> Any:
        webhook = state.get_webhook(g.subdomain, webhook_id)
        return {"webhook": webhook} if webhook else errors(404, "Webhook not found")

    @api.put("/webhooks/<int:webhook_id>")
    def update_webhook(webhook_id: int) -> Any:
        webhook = state.update_webhook(g.subdomain, webhook_id, wrapped_body("webhook"))
        return {"webhook": webhook} if webhook else errors(404, "Webhook not found")

    @api.delete("/webhooks/<int:webhook_id>")
    def delete_webhook(webhook_id: int) -> Any:
        if state.delete_webhook(g.subdomain, webhook_id) is None:
            return errors(404, "Webhook not found")
        return "", 204

    @api.get("/webhook_logs")
    def webhook_logs() -> Any:
        return {"webhook_logs": state.webhook_logs(g.subdomain)}
