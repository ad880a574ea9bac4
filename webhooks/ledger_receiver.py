"""The accounting systems' webhooks (interface §10): Xero and QuickBooks Online.

Thin scripts, as the rental system's receiver: verify the signature over the raw body → parse
→ record each change (committed) → hand it to the broker → answer 200. Nothing is stored for a
delivery whose signature is missing or wrong (401). Each change is one event (``source``
``ledger``); a change already recorded, or already covered by an event that will read or has
read the contact since (``ledger_store.covered``), is not recorded again.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any, Iterable

import structlog
from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from core import metrics
from core.integration_settings import IntegrationSettings
from core.ledger import ChangeSeen
from core.ledger_settings import LedgerSettings
from core.models import IntegrationStatus
from core.runtime import Runtime
from core.store import integrations
from core.tables import Integration
from providers import stamps
from providers.quickbooks import QuickBooksProvider
from providers.xero import XeroProvider
from webhooks.app_runtime import app_runtime
from webhooks.errors import ApiError
from workers.ledger_intake import record_change

log = structlog.get_logger(__name__)
blueprint = Blueprint("ledger_receiver", __name__)

XERO_SIGNATURE = "x-xero-signature"
INTUIT_SIGNATURE = "intuit-signature"




@blueprint.post("/webhooks/xero/<integration_id>")
def xero(integration_id: str) -> Response:
    rt = app_runtime()
    integration = _integration(rt, integration_id)
    if integration is None or integration.status == IntegrationStatus.DISABLED or integration.provider_kind != XeroProvider.kind:
        raise ApiError(404, "no such integration")
    raw = _body(rt)
    key = integrations.secrets_of(rt.vault, integration).get("webhook_key") or ""
    if not key or not _signed(key, raw, request.headers.get(XERO_SIGNATURE)):
        metrics.WEBHOOKS.labels(answer="401").inc()
        raise ApiError(401, "missing or wrong x-xero-signature")
    body = _json(raw)
    tenant = IntegrationSettings.of(integration).provider.tenant
    changes = [change for event in _list(body, "events")
               if (change := _xero_change(event, tenant)) is not None]
    _record_all(rt, integration.id, changes)
    return Response(status=200)  # Xero: "200 within 5 s, no body" (XW2)


def _xero_change(event: Any, tenant: str | None) -> ChangeSeen | None:
    """A CONTACT event of this integration's tenant (the app's webhook covers every tenant)."""
    if not isinstance(event, dict):
        raise ApiError(400, "invalid event", fields={"events": ["each event must be an object"]})
    if event.get("eventCategory") != "CONTACT":
        return None
    if tenant and str(event.get("tenantId", "")).lower() != tenant.lower():
        return None
    contact_id = str(event.get("resourceId") or "").strip().lower()
    if not contact_id or len(contact_id) > 64:
        raise ApiError(400, "invalid event", fields={"events": ["resourceId missing or too long"]})
    return ChangeSeen(contact_id, _time(event.get("eventDateUtc")), "webhook",
                      operation=str(event.get("eventType") or "UPDATE").lower())


@blueprint.post("/webhooks/quickbooks")
def quickbooks() -> Response:
    rt = app_runtime()
    raw = _body(rt)
    token = LedgerSettings.from_env().quickbooks_verifier_token
    if not token or not _signed(token, raw, request.headers.get(INTUIT_SIGNATURE)):
        metrics.WEBHOOKS.labels(answer="401").inc()
        raise ApiError(401, "missing or wrong intuit-signature")
    body = _json(raw)
    # Every notification is checked before anything is recorded: a bad one stores nothing.
    by_realm: list[tuple[str, list[ChangeSeen]]] = []
    for notification in _list(body, "eventNotifications"):
        if not isinstance(notification, dict):
            continue
        entities = _list(notification.get("dataChangeEvent") or {}, "entities")
        changes = [change for entity in entities if (change := _intuit_change(entity)) is not None]
        by_realm.append((str(notification.get("realmId") or ""), changes))
    for realm, changes in by_realm:
        for integration_id in _realm_integrations(rt, realm):
            _record_all(rt, integration_id, changes)
    return Response(status=200)


def _intuit_change(entity: Any) -> ChangeSeen | None:
    """A Customer entity; a ``Merge`` is about the merged-away customer (``deletedId``)."""
    if not isinstance(entity, dict):
        raise ApiError(400, "invalid entity", fields={"entities": ["each entity must be an object"]})
    if entity.get("name") != "Customer":
        return None
    operation = str(entity.get("operation") or "Update").lower()
    survivor = str(entity.get("id") or "").strip()
    changed_at = _time(entity.get("lastUpdated"))
    if operation == "merge" and entity.get("deletedId"):
        loser = str(entity["deletedId"]).strip()
        return ChangeSeen(loser[:64], changed_at, "webhook", operation="merge", merged_into=survivor[:64])
    if not survivor or len(survivor) > 64:
        raise ApiError(400, "invalid entity", fields={"entities": ["id missing or too long"]})
    return ChangeSeen(survivor, changed_at, "webhook", operation=operation)


def _realm_integrations(rt: Runtime, realm: str) -> list[str]:
    """The active QuickBooks integrations of this company (one app's webhook covers all)."""
    if not realm:
        return []
    try:
        with rt.db.reading() as session:
            rows = session.execute(select(Integration.id, Integration.settings, Integration.status).where(
                Integration.provider_kind == QuickBooksProvider.kind, Integration.deleted_at.is_(None)))
            return [row.id for row in rows if row.status != IntegrationStatus.DISABLED
                    and IntegrationSettings.from_parts(QuickBooksProvider.kind, row.settings).provider.tenant == realm]
    except SQLAlchemyError:
        raise _unavailable() from None


def _record_all(rt: Runtime, integration_id: str, changes: Iterable[ChangeSeen]) -> None:
    seen = recorded = 0
    try:
        for change in changes:
            seen += 1
            recorded += record_change(rt, integration_id, change) is not None
    except SQLAlchemyError:
        log.exception("could not record a ledger delivery", integration_id=integration_id)
        raise _unavailable() from None
    metrics.WEBHOOKS.labels(answer="ledger").inc()
    log.info("ledger webhook", integration_id=integration_id, changes=seen, recorded=recorded)


def _integration(rt: Runtime, integration_id: str) -> Integration | None:
    if len(integration_id) > 64:
        return None
    try:
        return integrations.get(rt.db, integration_id)
    except SQLAlchemyError:
        raise _unavailable() from None


def _unavailable() -> ApiError:
    return ApiError(503, "the delivery could not be recorded; try again", headers={"Retry-After": "5"})


def _body(rt: Runtime) -> bytes:
    limit = rt.settings.max_webhook_bytes
    if (request.content_length or 0) > limit:
        raise ApiError(413, f"body larger than {limit} bytes")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, f"body larger than {limit} bytes")
    return raw


def _signed(key: str, raw: bytes, offered: str | None) -> bool:
    """Base64 HMAC-SHA256 of the raw body under ``key``, compared in constant time."""
    if not offered:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), raw, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), offered.strip().encode())


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", fields={"_schema": ["must be an object"]})
    return body


def _list(container: Any, key: str) -> list[Any]:
    value = container.get(key) if isinstance(container, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, "invalid body", fields={key: ["must be a list"]})
    return value


def _time(raw: Any) -> datetime:
    """The change's own stamp (UTC when it names no zone); now when it is missing or bad.

    Xero's ``eventDateUtc`` and Intuit's ``lastUpdated`` are taken as the contact's own stamp
    (``UpdatedDateUTC``, ``MetaData.LastUpdatedTime``), so that the echo of our own write is
    known without a read (``core.ledger.is_echo``). That each system gives both the same
    value is unconfirmed (their documents say only "when the event occurred" / "when the
    entity was updated"): where they differ, the change is read and compared, as before."""
    return stamps.iso(raw) or datetime.now(timezone.utc)
