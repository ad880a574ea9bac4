"""Links and contacts of an integration (interface §7): list, link by hand, unlink, auto-suggest.

Endpoints that must ask the accounting system while answering wait at most about 2 s for its
rate limiter; when it is down or has no room they answer 503 with ``Retry-After``.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, TypeVar

from flask import Blueprint, request

from core.errors import CredentialsRefused, RateLimited, Transient
from core.link_wording import already_linked_elsewhere
from core.store import links
from core.store.links import ContactAlreadyLinked, LinkWrite
from core.tables import Integration
from providers import factory
from webhooks.api_integrations import found, load
from webhooks.app_runtime import app_runtime
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from webhooks.schemas import LinkPutSchema
from webhooks.views import json_body, link_view
from workers import replay

blueprint = Blueprint("api_links", __name__, url_prefix="/api/integrations")

#: Auto-suggest answers are kept this long per integration and query, so typing does not
#: spend the accounting system's rate limit.
SUGGEST_CACHE_SECONDS = 30
MIN_QUERY = 3
MAX_QUERY = 100
#: ``q``: 3 to 100 characters once the spaces and tabs around it are taken off, on one line (the
#: OpenAPI document gives the same pattern).
QUERY_PATTERN = r"^[ \t]*[^ \t\r\n][^\r\n]{1,98}[^ \t\r\n][ \t]*$"
#: How long an answering endpoint waits for the rate limiter before 503 (interface §7).
ANSWER_WAIT_SECONDS = 2.0

T = TypeVar("T")




def organisation_arg(raw: str | None, name: str = "organisation_id") -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 2**63 - 1:
        raise ApiError(400, "invalid query", fields={name: ["must be a positive integer"]})
    return int(raw)


@blueprint.get("/<integration_id>/links")
@admin_required
def list_links(integration_id: str) -> dict[str, Any]:
    integration = found(integration_id)
    organisation = organisation_arg(request.args.get("organisation_id"))
    rows = links.all_of(app_runtime().db, integration.id, organisation)
    status = request.args.get("status")
    if status is not None:  # interface §10: ?status=broken
        if status not in ("ok", "broken"):
            raise ApiError(400, "invalid query", fields={"status": ["must be ok or broken"]})
        rows = [link for link in rows if link.status == status]
    return {"links": [link_view(link) for link in rows]}


def asking_provider(integration: Integration, call: Callable[[Any], T]) -> T:
    """Run ``call(provider)`` for an answer now: 503 + Retry-After when it cannot answer."""
    provider = factory.accounting_provider(app_runtime(), integration, max_wait=ANSWER_WAIT_SECONDS)
    try:
        return call(provider)
    except RateLimited as error:
        raise ApiError(503, "the accounting system's rate limit has no room now",
                       headers={"Retry-After": str(max(1, round(error.retry_after)))}) from None
    except Transient:
        raise ApiError(503, "the accounting system is not answering", headers={"Retry-After": "5"}) from None
    except CredentialsRefused:
        raise ApiError(409, "the accounting system refused our credentials: reconnect it") from None


@blueprint.get("/<integration_id>/contacts")
@admin_required
def suggest(integration_id: str) -> dict[str, Any]:
    integration = found(integration_id)
    raw = request.args.get("q") or ""
    if not re.fullmatch(QUERY_PATTERN, raw):
        raise ApiError(400, "invalid query", fields={"q": [f"from {MIN_QUERY} to {MAX_QUERY} characters"]})
    query = raw.strip(" \t")
    key = f"suggest:{integration.id}:{query.casefold()}"
    cached = app_runtime().redis.get(key)
    if cached is not None:
        return {"contacts": json.loads(cached)}
    found_contacts = asking_provider(integration, lambda p: p.search(query, limit=10))
    contacts = [c.to_summary() for c in found_contacts[:10]]
    app_runtime().redis.set(key, json.dumps(contacts), ex=SUGGEST_CACHE_SECONDS)
    return {"contacts": contacts}


@blueprint.put("/<integration_id>/links/<organisation_id>")
@admin_required
def put_link(integration_id: str, organisation_id: str) -> dict[str, Any]:
    integration = found(integration_id)
    organisation = organisation_arg(organisation_id)
    assert organisation is not None
    contact_id = load(LinkPutSchema(), json_body())["contact_id"].strip()
    contact = asking_provider(integration, lambda p: p.get_contact(contact_id)
                              if p.valid_contact_id(contact_id) else None)
    if contact is None:
        raise ApiError(422, f"no contact {contact_id} in the accounting system",
                       fields={"contact_id": ["no such contact"]})
    name = _current_name(integration.id, organisation)
    try:
        link = links.save(app_runtime().db, LinkWrite(
            integration_id=integration.id, organisation_id=organisation,
            organisation_name=name, contact=contact, fields_hash=None,
        ))
    except ContactAlreadyLinked as error:
        raise ApiError(409, already_linked_elsewhere(contact, error.link, organisation, name),
                       extra={"organisation_id": error.link.organisation_id}) from None
    replay.sync_after_link(app_runtime(), integration.id, organisation, via="api")
    return link_view(link)


def _current_name(integration_id: str, organisation_id: int) -> str:
    existing = links.get(app_runtime().db, integration_id, organisation_id)
    return existing.organisation_name if existing else ""




@blueprint.delete("/<integration_id>/links/<organisation_id>")
@admin_required
def delete_link(integration_id: str, organisation_id: str) -> tuple[str, int]:
    integration = found(integration_id)
    organisation = organisation_arg(organisation_id)
    assert organisation is not None
    if not links.remove(app_runtime().db, integration.id, organisation):
        raise ApiError(404, "no link for that organisation")
    return "", 204

