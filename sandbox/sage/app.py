"""The Sage Business Cloud Accounting v3.1 stand-in: ``create_app`` and its ``/_sandbox/`` routes.

Served at a base URL ``<base>``: the API at ``<base>/v3.1`` (``SAGE_API_URL``), the token
endpoint at ``<base>/token`` (``SAGE_TOKEN_URL``), authorize at ``<base>/oauth2/auth/central``.

Control routes beyond ``sandbox.control``'s (no call log, no rate limit):
- ``POST /_sandbox/tokens`` ``{"tenant"?}``: tokens as if consent had just completed, for the
  user owning business ``tenant`` (a new user and lead business when absent or unknown);
- ``GET /_sandbox/contacts?tenant=``: every contact of that business (all businesses without
  ``tenant``), inactive ones included, in the API's full JSON shape;
- ``POST /_sandbox/contacts`` ``{"tenant", "contact": {...}, "is_active"?}``: seed one contact
  (same validation, reference rule included; without ``tenant``, into the lead business of the
  user who signs in at the authorize page);
- ``PATCH /_sandbox/contacts/<id>`` ``{"is_active"?, "contact"?}``: a hand edit, or make a
  contact inactive (Sage's UI can; the API cannot, providers.md §C2);
- ``POST /_sandbox/delete`` ``{"contact_id"}`` and ``POST /_sandbox/merge`` ``{"from", "into"}``:
  deleted in the web app (then listed by ``deleted_since``), or merged (the loser deleted);
- ``POST /_sandbox/businesses`` ``{"tenant"}``: give the user owning ``tenant`` one more
  (non-lead) business; ``GET /_sandbox/businesses``: every user and their businesses.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from sandbox.control import CONTROL_PREFIX, Control
from sandbox.limits import FixedWindow
from sandbox.sage import contacts as records
from sandbox.sage import pages
from sandbox.sage.api import SageApi, install_error_pages
from sandbox.sage.errors import error_response
from sandbox.sage.oauth import REFRESH_TOKEN_LIFETIME, TokenStore, install_oauth
from sandbox.sage.state import SageState

#: Per business per minute. Unconfirmed for v3.1: v3.0 documents 200/min, third parties claim
#: 100/min for v3.1; the stand-in uses the lower figure so that a client tuned to it is safe.
DEFAULT_RATE_LIMIT = 100
#: ``expires_in`` of Sage's access tokens: 5 minutes.
ACCESS_TOKEN_LIFETIME = 300.0


def create_app(
    *,
    rate_limit: int = DEFAULT_RATE_LIMIT,
    window: float = 60.0,
    access_token_lifetime: float = ACCESS_TOKEN_LIFETIME,
    refresh_token_lifetime: float = REFRESH_TOKEN_LIFETIME,
    web_url: str = records.DEFAULT_WEB_URL,
    clients: dict[str, str] | None = None,
) -> Flask:
    """A fresh stand-in; its ``SageState`` is ``app.extensions["sandbox"]`` (its routes, with
    the token store and rate limits, ``app.extensions["sage_api"]``)."""
    app = Flask("sandbox.sage")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    state = SageState()
    tokens = TokenStore(access_token_lifetime, refresh_token_lifetime)
    api = SageApi(state, tokens, FixedWindow(rate_limit, window), web_url=web_url)
    control = Control()
    control.install(app, reset=lambda: _reset(api, rate_limit, window))
    control.extra_stats = lambda: {
        "refused_429": sum(api.limits.refused.values()), "contacts": state.contact_count(),
        "businesses": len(state.businesses),
    }
    api.install(app)
    install_oauth(app, tokens, consenting_user=lambda: _consenting_user(state), clients=clients)
    install_error_pages(app)
    _install_token_routes(app, state, tokens)
    _install_contact_routes(app, state, api)
    _install_business_routes(app, state)
    pages.install(app, state)
    app.extensions.update(sandbox=state, sage_api=api)
    return app


def _reset(api: SageApi, rate_limit: int, window: float) -> None:
    api.state.reset()
    api.tokens.reset()
    api.limits = FixedWindow(rate_limit, window)  # fresh windows and refusal counts


def _consenting_user(state: SageState) -> str:
    """Who "signs in" at the auto-consenting authorize page: one user per stand-in."""
    with state.lock:
        if state.default_user not in state.users:
            state.default_user = state.new_user()
        return state.default_user


def _user_for_tenant(state: SageState, tenant: str | None) -> str:
    with state.lock:
        owner = state.owner_of(tenant) if tenant else None
        return owner or state.new_user(tenant)


def _install_token_routes(app: Flask, state: SageState, tokens: TokenStore) -> None:
    @app.post(CONTROL_PREFIX + "tokens")
    def _tokens() -> Any:
        tenant = (request.get_json(silent=True) or {}).get("tenant")
        user = _user_for_tenant(state, tenant)
        issued = tokens.issue(user)
        return {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
                "expires_in": issued["expires_in"], "tenant": tenant or state.lead_business(user)}


def _install_contact_routes(app: Flask, state: SageState, api: SageApi) -> None:
    def full(record: dict[str, Any]) -> dict[str, Any]:
        return records.render(record, web_url=api.web_url, attributes=None, nested=True)

    @app.get(CONTROL_PREFIX + "contacts")
    def _contacts() -> Any:
        tenant = request.args.get("tenant")
        with state.lock:
            chosen = [tenant] if tenant else list(state.contacts)
            found = [full(r) for b in chosen for r in state.contacts_of(b).values()]
        return {"contacts": found}

    @app.post(CONTROL_PREFIX + "contacts")
    def _seed() -> Any:
        data = request.get_json(silent=True) or {}
        with state.lock:
            business = str(data.get("tenant") or state.lead_business(_consenting_user(state)))
            if business not in state.businesses:
                state.new_user(business)
            existing = state.contacts_of(business)
            contact = {"contact_type_ids": ["CUSTOMER"], **(data.get("contact") or {})}
            errors = records.validate(contact, existing, own_id=None, creating=True)
            if errors:
                return error_response(422, errors)
            record = records.new_record(state.take_numeric_id())
            records.apply(record, contact)
            record["is_active"] = bool(data.get("is_active", True))
            existing[record["id"]] = record
            return {**full(record), "tenant": business}, 201

    @app.patch(CONTROL_PREFIX + "contacts/<contact_id>")
    def _patch(contact_id: str) -> Any:
        """A person's change in the web app: ``{"is_active"?, "contact"?: {...}}`` (the same
        validation as the API's PUT); ``updated_at`` moves on either way."""
        data = request.get_json(silent=True) or {}
        with state.lock:
            business, record = _find(state, contact_id)
            if business is None or record is None:
                return jsonify(error="no such contact"), 404
            changes = data.get("contact") or {}
            errors = records.validate(changes, state.contacts_of(business), own_id=contact_id,
                                      creating=False)
            if errors:
                return error_response(422, errors)
            records.apply(record, changes)
            if "is_active" in data:
                record["is_active"] = bool(data["is_active"])
            return full(record)

    @app.post(CONTROL_PREFIX + "delete")
    def _delete() -> Any:
        """``{"contact_id"}``: deleted in the web app; listed by ``deleted_since``."""
        contact_id = str((request.get_json(silent=True) or {}).get("contact_id") or "")
        with state.lock:
            business, _ = _find(state, contact_id)
            gone = state.delete(business, contact_id) if business else None
        if gone is None:
            return jsonify(error="no such contact"), 404
        return {"id": contact_id, "deleted_at": gone["deleted_at"]}

    @app.post(CONTROL_PREFIX + "merge")
    def _merge() -> Any:
        """``{"from", "into"}`` in one business: ``from`` is deleted and ``into`` updated. Sage
        exposes no merge in its API and no pointer from the deleted contact to the survivor
        (unconfirmed that its web app merges at all): a poller sees a deletion and an update."""
        data = request.get_json(silent=True) or {}
        loser, survivor = str(data.get("from") or ""), str(data.get("into") or "")
        with state.lock:
            business, kept = _find(state, survivor)
            if business is None or kept is None or loser == survivor \
                    or loser not in state.contacts_of(business):
                return jsonify(error="no such contacts in one business"), 404
            state.delete(business, loser)
            records.apply(kept, {})
            return full(kept)


def _find(state: SageState, contact_id: str) -> tuple[str | None, dict[str, Any] | None]:
    """The business holding ``contact_id`` and its record (the control routes name no business)."""
    for business, contacts in state.contacts.items():
        if contact_id in contacts:
            return business, contacts[contact_id]
    return None, None


def _install_business_routes(app: Flask, state: SageState) -> None:
    @app.post(CONTROL_PREFIX + "businesses")
    def _add_business() -> Any:
        tenant = (request.get_json(silent=True) or {}).get("tenant")
        with state.lock:
            user = _user_for_tenant(state, tenant)
            return {"id": state.add_business(user), "lead": state.lead_business(user)}, 201

    @app.get(CONTROL_PREFIX + "businesses")
    def _businesses() -> Any:
        with state.lock:
            return {"users": [{"id": u, "businesses": list(b)} for u, b in state.users.items()]}
