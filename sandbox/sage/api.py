"""The ``/v3.1`` routes: contacts and businesses, behind the bearer token, ``X-Business`` and the
per-business rate limit.

- ``X-Business`` selects the business; "if not set, the API will return data of the user's lead
  business" (Sage auth guide). A business the user does not have is refused with 401
  AuthorizationFailure (unconfirmed; the stricter answer). Every answer names the business it
  served in an ``X-Business`` response header (Sage multi-business guide).
- Lists use Sage's envelope with the keys of Sage's own best-practices page: ``$total``,
  ``$page``, ``$next``, ``$back``, ``$items_per_page`` (a third-party example shows
  ``$itemsPerPage``: unconfirmed, so clients should read only ``$items`` and ``$next``).
"""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, jsonify, request

from sandbox.limits import FixedWindow
from sandbox.sage import contacts as records
from sandbox.sage import fields
from sandbox.sage.errors import (
    RECORD_INVALID,
    RECORD_NOT_FOUND,
    TOO_MANY_REQUESTS,
    UNEXPECTED_ERROR,
    UNSUPPORTED_MEDIA_TYPE,
    error_response,
    not_found,
    one_error,
    sage_error,
    unauthorised,
)
from sandbox.sage.oauth import TokenStore
from sandbox.sage.state import SageState

API_PREFIX = "/v3.1"
#: ``items_per_page``: "default 20", "max 200" (swagger). Larger values are clamped (unconfirmed).
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
#: What Sage's own ``/businesses`` example shows as ``$items_per_page`` (no paging).
BUSINESSES_PAGE_SIZE = 2147483647


class SageApi:
    """Routes of one stand-in; ``web_url`` is the host of the contacts' ``alternate`` links."""

    def __init__(self, state: SageState, tokens: TokenStore, limits: FixedWindow, *,
                 web_url: str) -> None:
        self.state, self.tokens, self.limits, self.web_url = state, tokens, limits, web_url

    def install(self, app: Flask) -> None:
        app.before_request(self._guard)
        app.after_request(self._name_business)
        prefix = API_PREFIX
        app.add_url_rule(f"{prefix}/contacts", "sage_list", self.list_contacts)
        app.add_url_rule(f"{prefix}/contacts", "sage_create", self.create_contact, methods=["POST"])
        app.add_url_rule(f"{prefix}/contacts/<key>", "sage_get", self.get_contact)
        app.add_url_rule(f"{prefix}/contacts/<key>", "sage_put", self.update_contact,
                         methods=["PUT"])
        app.add_url_rule(f"{prefix}/contacts/<key>", "sage_delete", self.delete_contact,
                         methods=["DELETE"])
        app.add_url_rule(f"{prefix}/currencies", "sage_currencies", self.list_currencies)
        app.add_url_rule(f"{prefix}/businesses", "sage_businesses", self.list_businesses)
        app.add_url_rule(f"{prefix}/businesses/<key>", "sage_business", self.get_business)

    # -- the guard: token, business, rate limit -----------------------------------------------
    def _guard(self) -> Response | None:
        if not request.path.startswith(API_PREFIX + "/"):
            return None
        header = request.headers.get("Authorization", "")
        user = self.tokens.user_for(header.removeprefix("Bearer ").strip()) if header else None
        if user is None:
            return unauthorised()
        business = self.state.business_for(user, request.headers.get("X-Business"))
        if business is None:
            return unauthorised("The business is not available to this user.")
        g.sage_user, g.sage_business = user, business
        wait = self.limits.hit(business)
        if wait is not None:
            # Retry-After is unconfirmed for Sage: sent here, but a client must not depend on it.
            return one_error(429, TOO_MANY_REQUESTS, "Too many requests. Please try again later.",
                             **{"Retry-After": str(math.ceil(wait))})
        return None

    def _name_business(self, response: Response) -> Response:
        if g.get("sage_business"):
            response.headers["X-Business"] = g.sage_business
        return response

    # -- contacts -----------------------------------------------------------------------------
    def list_contacts(self) -> Any:
        args = request.args
        size = min(MAX_PAGE_SIZE, max(1, _int(args.get("items_per_page"), DEFAULT_PAGE_SIZE)))
        page = max(1, _int(args.get("page"), 1))
        only_active = args.get("filter_inactive_contacts", "").lower() == "true"
        try:
            changed = _since(args, "updated_or_created_since")
            deleted = _since(args, "deleted_since")
        except ValueError as error:
            return one_error(422, RECORD_INVALID, f"{error} is not a valid date", str(error))
        with self.state.lock:
            if deleted is not None:
                # "Contacts deleted since a given date … Not inclusive" (Sage's parameter docs).
                pool = [r for r in self.state.deleted_of(g.sage_business).values()
                        if r["deleted_moment"] > deleted.timestamp()]
            else:
                # "Contacts changed since a given date … Inclusive of the passed timestamp".
                pool = [r for r in self.state.contacts_of(g.sage_business).values()
                        if changed is None or _at(r["updated_at"]) >= changed]
            found = [r for r in pool
                     if records.matches(r, search=args.get("search", ""),
                                        email=args.get("email", ""),
                                        type_id=args.get("contact_type_id", ""),
                                        only_active=only_active)]
            found.sort(key=lambda r: (str(r.get("name") or "").casefold(), r["created_at"], r["id"]))
            items = [self._render(r, listing=True) for r in found[(page - 1) * size: page * size]]
        return jsonify(_envelope(items, total=len(found), page=page, size=size))

    def get_contact(self, key: str) -> Any:
        with self.state.lock:
            record = self.state.contacts_of(g.sage_business).get(key)
            return not_found() if record is None else jsonify(self._render(record))

    def create_contact(self) -> Any:
        return self._write(None)

    def update_contact(self, key: str) -> Any:
        return self._write(key)

    def delete_contact(self, key: str) -> Any:
        if self.state.delete(g.sage_business, key) is None:
            return not_found()
        return Response(status=204)

    def list_currencies(self) -> Any:
        """``GET /currencies`` (a ``Base`` per currency, Swagger): what ``currency_id`` takes."""
        items = [fields.currency_base(code) for code in fields.CURRENCIES]
        return jsonify(_envelope(items, total=len(items), page=1, size=len(items)))

    def _write(self, key: str | None) -> Any:
        """POST (``key`` None) or PUT. An ``idempotency_id`` seen before in this business
        replays the first successful answer without writing again (Sage idempotency guide)."""
        if request.mimetype != "application/json":
            return one_error(415, UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
        body = request.get_json(silent=True)
        contact = body.get("contact") if isinstance(body, dict) else None
        replay_key = (g.sage_business, str((contact or {}).get("idempotency_id") or ""))
        with self.state.lock:
            if replay_key[1] and replay_key in self.state.replays:
                status, answer = self.state.replays[replay_key]
                return Response(json.dumps(answer), status=status, mimetype="application/json")
            status, answer = self._apply(key, contact)
            if replay_key[1] and status < 300:
                self.state.replays[replay_key] = (status, answer)
        if status >= 400:
            return error_response(status, answer)
        return jsonify(answer), status

    def _apply(self, key: str | None, contact: Any) -> tuple[int, Any]:
        existing = self.state.contacts_of(g.sage_business)
        if key is not None and key not in existing:
            return 404, [sage_error(RECORD_NOT_FOUND, "Couldn't find record.")]
        errors = records.validate(contact, existing, own_id=key, creating=key is None)
        if errors:
            return 422, errors
        record = existing[key] if key else records.new_record(self.state.take_numeric_id())
        records.apply(record, contact)
        existing[record["id"]] = record
        return (200 if key else 201), self._render(record)

    def _render(self, record: dict[str, Any], *, listing: bool = False) -> dict[str, Any]:
        return render_for_request(record, self.web_url, listing=listing)

    # -- businesses ---------------------------------------------------------------------------
    def list_businesses(self) -> Any:
        with self.state.lock:
            owned = list(self.state.users.get(g.sage_user) or [])
            items = [self._business(b, full=request.args.get("attributes") == "all") for b in owned]
        return jsonify(_envelope(items, total=len(items), page=1, size=BUSINESSES_PAGE_SIZE))

    def get_business(self, key: str) -> Any:
        """``GET /businesses/lead`` is the documented way to the lead business."""
        with self.state.lock:
            owned = self.state.users.get(g.sage_user) or []
            business_id = owned[0] if key == "lead" and owned else key
            if business_id not in owned:
                return not_found()
            return jsonify(self._business(business_id, full=True))

    def _business(self, business_id: str, *, full: bool) -> dict[str, Any]:
        business = self.state.businesses[business_id]
        summary = {"id": business.id, "displayed_as": business.name,
                   "$path": f"/businesses/{business.id}"}
        if not full:
            return summary
        return {**summary, "name": business.name, "created_at": business.created_at,
                "updated_at": business.created_at, "is_demo": False,
                "country": {"id": "GB", "displayed_as": "United Kingdom (GB)"}}


def render_for_request(record: dict[str, Any], web_url: str, *, listing: bool) -> dict[str, Any]:
    """A contact as this request asks: lists show id/displayed_as/$path unless ``attributes``
    names more (``all`` for everything); nested entities expand with ``nested_attributes=all``."""
    wanted = request.args.get("attributes", "")
    if wanted == "all" or (not listing and not wanted):
        attributes = None
    else:
        attributes = {name.strip() for name in wanted.split(",") if name.strip()}
    nested = request.args.get("nested_attributes", "") == "all"
    return records.render(record, web_url=web_url, attributes=attributes, nested=nested)


def _envelope(items: list[Any], *, total: int, page: int, size: int) -> dict[str, Any]:
    last_page = max(1, math.ceil(total / size))
    return {"$total": total, "$page": page,
            "$next": _page_path(page + 1) if page < last_page else None,
            "$back": _page_path(page - 1) if page > 1 else None,
            "$items_per_page": size, "$items": items}


def _page_path(page: int) -> str:
    query = {**request.args.to_dict(flat=True), "page": str(page)}
    return f"{request.path.removeprefix(API_PREFIX)}?{urlencode(query)}"


def _since(args: Any, name: str) -> datetime | None:
    """A changed-since parameter (ISO 8601; a naive time or a bare date is UTC), or None.
    ``ValueError(name)`` when it cannot be read."""
    text = args.get(name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError as error:
        raise ValueError(name) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def install_error_pages(app: Flask) -> None:
    """Unknown paths and unexpected failures answer in Sage's array shape too."""

    @app.errorhandler(404)
    def _not_found(_error: Exception) -> Response:
        return not_found()

    @app.errorhandler(405)
    def _not_allowed(_error: Exception) -> Response:
        return one_error(405, "MethodNotAllowed", "The method is not allowed for this resource.")

    @app.errorhandler(500)
    def _unexpected(_error: Exception) -> Response:
        return one_error(500, UNEXPECTED_ERROR, "An unexpected error occurred.")
