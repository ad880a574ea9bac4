"""How stored rows are answered: plain dicts, never a secret."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import request

from core.integration_settings import IntegrationSettings
from core.matching import match_on_of
from core.name_clash import on_name_clash_of
from core.tables import Event, EventAttempt, Integration, Link
from webhooks.errors import ApiError
from webhooks.payloads import MAX_DEPTH, _depth, _not_json

#: Largest admin API body accepted (CSV uploads have their own limit).
MAX_JSON_BYTES = 256 * 1024


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def json_body(*, required: bool = True) -> Any:
    """The request's JSON object body, bounded in size and depth; 400/413/415 otherwise.
    ``required=False``: an absent (empty) body reads as ``{}`` (every key optional)."""
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise ApiError(413, f"body larger than {MAX_JSON_BYTES} bytes")
    mimetype = (request.mimetype or "application/json").lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "Content-Type must be application/json")
    raw = request.stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(413, f"body larger than {MAX_JSON_BYTES} bytes")
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON object body is required", fields={"_schema": ["missing body"]})
        raw = b"{}"
    try:
        data = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    if _depth(data) > MAX_DEPTH:
        raise ApiError(400, f"JSON nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object", fields={"_schema": ["must be an object"]})
    return data


def integration_view(integration: Integration) -> dict[str, Any]:
    view = IntegrationSettings.of(integration)
    return {
        "id": integration.id,
        "name": integration.name,
        "status": integration.status,
        "status_reason": integration.status_reason,
        "source": {"subdomain": integration.source_subdomain, "api_url": view.source.api_url,
                   "signed": view.source.signed},
        "provider": {"kind": integration.provider_kind, **view.provider_stored},
        "policies": {**view.policies.to_dict(),
                     "match_on": list(match_on_of(integration.policies)),
                     "on_name_clash": on_name_clash_of(integration.policies)},
        "defaults": dict(view.defaults),
        "mapping": {"custom_fields": dict(view.custom_fields)},
        "rate_limits": dict(view.rate_limits),
        "webhooks_registered": integration.webhooks_registered,
        "webhook_error": integration.webhook_error,
        "created_at": iso(integration.created_at),
        "updated_at": iso(integration.updated_at),
    }


def event_view(event: Event, attempts: list[EventAttempt], superseded_by: str | None = None) -> dict[str, Any]:
    """``superseded_by``: the later success of the organisation, for a failed event
    (``core.store.event_resolution.superseding``)."""
    view: dict[str, Any] = {
        "id": event.id,
        "integration_id": event.integration_id,
        "source_event_id": event.source_event_id,
        "organisation_id": event.organisation_id,
        "kind": event.kind,
        "source": getattr(event, "source", None) or "current_rms",
        "status": event.status,
        "attempts": event.attempts,
        "received_at": iso(event.received_at),
        "finished_at": iso(event.finished_at),
        "next_attempt_at": iso(event.next_attempt_at),
        "outcome": event.outcome,
        "last_error": event.last_error,
        "payload": event.payload,
        "resolved_at": iso(event.resolved_at),
        "resolved_note": event.resolved_note,
        "superseded_by": superseded_by,
    }
    view["attempt_history"] = [
        {"number": a.number, "status": a.status, "started_at": iso(a.started_at),
         "finished_at": iso(a.finished_at), "outcome": a.outcome, "error": a.error}
        for a in attempts
    ]
    return view


def link_view(link: Link) -> dict[str, Any]:
    return {
        "organisation_id": link.organisation_id,
        "organisation_name": link.organisation_name,
        "contact_id": link.contact_id,
        "contact_name": link.contact_name,
        "url": link.url,
        "linked_at": iso(link.linked_at),
        "last_synced_at": iso(link.last_synced_at),
        "status": getattr(link, "status", None) or "ok",
        "broken_reason": getattr(link, "broken_reason", None),
    }
