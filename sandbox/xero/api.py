"""The Accounting API routes of the Xero stand-in, under ``/api.xro/2.0`` (providers.md A1).

Each call needs a valid bearer token and an ``xero-tenant-id`` the token was granted; it is
counted against that tenant's limits and answered with the limit headers (A5). Writes honour
``Idempotency-Key`` and ``summarizeErrors`` (A3).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from flask import Blueprint, Response, g, request

from sandbox.xero import contacts as shapes
from sandbox.xero import settings_api
from sandbox.xero.events import API_PREFIX, notify
from sandbox.xero.query import ContactQuery, QueryParseError
from sandbox.xero.state import ElementResult, Tenant, XeroState

PROVIDER_NAME = "Xero Sandbox"
#: The 404 text of Xero's SDKs; the exact body is unconfirmed (A3).
NOT_FOUND = "The resource you're looking for cannot be found"


def answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers or {},
                    mimetype="application/json")


def problem(status: int, title: str, detail: str) -> Response:
    """The JSON problem shape of Xero's 401/403 answers (A3)."""
    return answer({"Type": None, "Title": title, "Status": status, "Detail": detail,
                   "Instance": str(uuid.uuid4()), "Extensions": {}}, status)


def bearer_token() -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ")


def envelope(**items: Any) -> dict[str, Any]:
    return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": PROVIDER_NAME,
            "DateTimeUTC": shapes.msdate().replace("+0000", ""), **items}


def exception(number: int, kind: str, message: str, **more: Any) -> Response:
    return answer({"ErrorNumber": number, "Type": kind, "Message": message, **more}, 400)


def build_api(state: XeroState) -> Blueprint:
    api = Blueprint("xero_api", __name__, url_prefix=API_PREFIX)
    _install_gate(api, state)
    _install_routes(api, state)
    settings_api.install(api, state, answer=answer, envelope=envelope, exception=exception,
                         not_found=lambda: Response(NOT_FOUND, 404, mimetype="text/plain"))
    return api


def _install_gate(api: Blueprint, state: XeroState) -> None:
    """Authentication, tenant check, rate limits, limit headers and idempotent replays."""

    @api.before_request
    def _admit() -> Response | None:
        grant, detail = state.tokens.check(bearer_token())
        if grant is None:
            return problem(401, "Unauthorized", detail)
        tenant_id = request.headers.get("xero-tenant-id", "").lower()
        if not tenant_id or tenant_id != grant.tenant:
            return problem(403, "Forbidden", "AuthorizationUnsuccessful")
        refusal = state.throttle.enter(tenant_id)
        g.xero_tenant = tenant_id
        if refusal is not None:
            # The 429 body is unconfirmed; the headers are what clients read (A5).
            refused = problem(429, "Too Many Requests", f"Rate limit exceeded: {refusal.problem}")
            refused.headers.update({"Retry-After": str(refusal.retry_after),
                                    "X-Rate-Limit-Problem": refusal.problem})
            return refused
        g.xero_counted = True
        return _replay(state, tenant_id)

    @api.after_request
    def _limit_headers(response: Response) -> Response:
        tenant_id = g.get("xero_tenant")
        if tenant_id:
            response.headers.update(state.throttle.headers(tenant_id))
            key = request.headers.get("Idempotency-Key")
            is_write = request.method in ("PUT", "POST")
            if key and is_write and g.get("xero_counted") and not g.get("xero_replayed"):
                state.store_answer(tenant_id, key, response.status_code, response.get_data())
        return response

    @api.teardown_request
    def _leave(_: BaseException | None) -> None:
        if g.get("xero_counted"):
            state.throttle.leave(g.xero_tenant)


def _install_routes(api: Blueprint, state: XeroState) -> None:
    @api.get("/Organisation")
    def organisation() -> Response:
        tenant = state.tenant(g.xero_tenant)
        return answer(envelope(Organisations=[{
            "OrganisationID": tenant.id, "Name": tenant.name, "LegalName": tenant.name,
            "ShortCode": tenant.short_code, "Version": "NZ", "OrganisationType": "COMPANY",
            "BaseCurrency": "NZD", "CountryCode": "NZ", "OrganisationStatus": "ACTIVE",
            "IsDemoCompany": False, "Addresses": [], "Phones": [], "ExternalLinks": [],
        }]))

    @api.get("/Contacts")
    def list_contacts() -> Response:
        try:
            query = ContactQuery.from_args(request.args)
        except QueryParseError as error:
            return exception(16, "QueryParseException", str(error))
        try:
            since = changed_since(request.headers.get("If-Modified-Since"))
        except ValueError:
            return exception(14, "PostDataInvalidException", "If-Modified-Since is not a valid date")
        tenant = state.tenant(g.xero_tenant)
        with state.lock:
            candidates = [c for c in tenant.contacts.values()
                          if since is None or shapes.msdate_seconds(c["UpdatedDateUTC"]) >= since]
            rows, pagination = query.paginate(query.select(candidates))
            summary = request.args.get("summaryOnly", "").lower() == "true"
            shown = [shapes.render(c, with_merge=pagination is not None, summary=summary) for c in rows]
        extra = {"pagination": pagination} if pagination else {}
        return answer(envelope(**extra, Contacts=shown))

    @api.get("/Contacts/<key>")
    def get_contact(key: str) -> Response:
        contact = _find(state.tenant(g.xero_tenant), key)
        if contact is None:
            return Response(NOT_FOUND, 404, mimetype="text/plain")
        return answer(envelope(Contacts=[shapes.render(contact, with_merge=True)]))

    @api.put("/Contacts")
    def create_contacts() -> Response:
        return _write(state, upsert=False)

    @api.post("/Contacts")
    def upsert_contacts() -> Response:
        return _write(state, upsert=True)

    @api.post("/Contacts/<contact_id>")
    def update_contact(contact_id: str) -> Response:
        if _find(state.tenant(g.xero_tenant), contact_id) is None:
            return Response(NOT_FOUND, 404, mimetype="text/plain")
        return _write(state, upsert=True, contact_id=contact_id.lower())


def changed_since(header: str | None) -> float | None:
    """``If-Modified-Since`` as epoch seconds: an HTTP date, or the ISO 8601 form xero-python
    sends (``2026-12-05T10:00:00``, UTC when it names no zone). Contacts updated at or after it
    are returned: inclusive, so a poller that saves the header's second never misses a change
    made in that same second (the real boundary is unconfirmed)."""
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        moment = datetime.fromisoformat(header.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _find(tenant: Tenant, key: str) -> dict[str, Any] | None:
    """By ContactID (any case), else by ContactNumber (spec ``/Contacts/{ContactNumber}``)."""
    found = tenant.contacts.get(key.lower())
    if found is None:
        numbered = (c for c in tenant.contacts.values() if c["ContactNumber"])
        found = next((c for c in numbered if c["ContactNumber"] == key), None)
    return found


def _replay(state: XeroState, tenant_id: str) -> Response | None:
    key = request.headers.get("Idempotency-Key")
    if not key or request.method not in ("PUT", "POST"):
        return None
    if len(key) > 128:  # "128 character max" (spec); the refusal's wording is unconfirmed
        return exception(10, "ValidationException", "Idempotency-Key must be 128 characters or fewer")
    stored = state.stored_answer(tenant_id, key)
    if stored is None:
        return None
    g.xero_replayed = True
    return Response(stored.body, stored.status, mimetype="application/json")


def _write(state: XeroState, *, upsert: bool, contact_id: str | None = None) -> Response:
    try:
        elements = _elements(request.get_data(as_text=True))
        for element in elements:
            shapes.check_element(element)
    except shapes.PostDataInvalid as error:
        return exception(14, "PostDataInvalidException", str(error))
    results = state.write(state.tenant(g.xero_tenant), elements, upsert=upsert, contact_id=contact_id)
    # Xero reports the app's own writes too: the receiver must recognise its echo (interface §10).
    notify(state, g.xero_tenant, [(r.contact["ContactID"], "CREATE" if r.created else "UPDATE")
                                  for r in results if r.contact is not None])
    # Always send summarizeErrors: without it Xero summarises (A3), whatever the spec's default.
    if request.args.get("summarizeErrors", "true").lower() == "false":
        return answer(envelope(Contacts=[_element_status(r) for r in results]))
    refused = [r.echo for r in results if not r.ok]
    if refused:
        # The valid elements above are saved all the same, but not returned (A3).
        return exception(10, "ValidationException", "A validation exception occurred", Elements=refused)
    return answer(envelope(Contacts=[shapes.render(r.contact) for r in results if r.contact]))


def _elements(body: str) -> list[Any]:
    try:
        payload = json.loads(body or "null")
    except ValueError as error:
        raise shapes.PostDataInvalid(f"JSON for post data was invalid, {error}") from error
    if not isinstance(payload, dict):
        raise shapes.PostDataInvalid("JSON for post data was invalid, expected an object.")
    if isinstance(payload.get("Contacts"), list):
        return payload["Contacts"]
    if "Contacts" not in payload and "Name" in payload:
        return [payload]  # Xero also reads a single bare Contact object
    raise shapes.PostDataInvalid("JSON for post data was invalid, expected a Contacts array.")


def _element_status(result: ElementResult) -> dict[str, Any]:
    if result.contact is not None:
        return {**shapes.render(result.contact), "StatusAttributeString": "OK"}
    return {**(result.echo or {}), "StatusAttributeString": "ERROR"}
