"""``/api/integrations``: create, list, show, update (merging), disable, delete (interface §3)."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from flask import Blueprint
from marshmallow import Schema, ValidationError

from core.errors import RateLimited
from core.integration_settings import IntegrationSettings
from core.models import IntegrationStatus
from core.runtime import Runtime
from core.store import integrations
from core.store.integrations import NewIntegration
from core.tables import Integration
from providers import registry, webhook_registration
from webhooks import defaults_check
from webhooks.app_runtime import app_runtime
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from webhooks.schemas import IntegrationCreateSchema, IntegrationPatchSchema
from webhooks.views import integration_view, json_body
from workers import messages

blueprint = Blueprint("api_integrations", __name__, url_prefix="/api/integrations")

#: Keys of ``provider`` that are secrets (sealed) rather than settings.
PROVIDER_SECRETS = ("client_id", "client_secret", "access_token", "refresh_token", "expires_at",
                    "webhook_key")
#: Keys of ``provider`` kept as settings: every registered tenant key, and the URL overrides.
PROVIDER_SETTINGS = (*registry.TENANT_KEYS.values(), "api_url", "token_url")




def load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)
        return loaded
    except ValidationError as error:
        messages = error.normalized_messages()  # type: ignore[no-untyped-call]  # marshmallow leaves it unannotated
        raise ApiError(400, "invalid body", fields=messages) from None


def found(integration_id: str) -> Integration:
    integration = integrations.get(app_runtime().db, integration_id) if len(integration_id) <= 64 else None
    if integration is None:
        raise ApiError(404, "no such integration")
    return integration


def rotated_token(rt: Runtime, integration_id: str) -> tuple[str, datetime]:
    """A new webhook token and until when the previous one stays valid; 404 when the
    integration was deleted since it was read."""
    rotated = integrations.rotate_webhook_token(rt.db, integration_id)
    if rotated is None:
        raise ApiError(404, "no such integration")
    return rotated


@blueprint.post("")
@admin_required
def create() -> tuple[dict[str, Any], int]:
    data = load(IntegrationCreateSchema(), json_body())
    rt = app_runtime()
    new = _new_integration(data)
    new.settings.update(defaults_check.on_create(rt, data))  # 400 for an unknown default
    integration, token = integrations.create(rt.db, rt.vault, new)
    url = webhook_registration.webhook_url(rt, integration.id, token)
    webhook_registration.register(rt, integration, url)
    return {**integration_view(found(integration.id)), "webhook_url": url}, 201


def _new_integration(data: dict[str, Any]) -> NewIntegration:
    source, provider = data["source"], data["provider"]
    secrets = {"source_api_key": source["api_key"]}
    if source.get("signing_secret"):
        secrets["signing_secret"] = source["signing_secret"]
    secrets.update(_provider_secrets(provider))
    settings = {
        "source": {"api_url": source.get("api_url"), "signed": bool(source.get("signing_secret"))},
        "provider": {k: provider[k] for k in PROVIDER_SETTINGS if provider.get(k)},
    }
    if data.get("rate_limits"):
        settings["rate_limits"] = data["rate_limits"]
    return NewIntegration(
        name=data["name"], provider_kind=provider["kind"], source_subdomain=source["subdomain"],
        settings=settings, secrets=secrets, policies=data.get("policies") or {},
    )


def _provider_secrets(provider: dict[str, Any]) -> dict[str, Any]:
    secrets = {k: provider[k] for k in PROVIDER_SECRETS if provider.get(k) is not None}
    if "expires_at" in secrets:
        secrets["expires_at"] = secrets["expires_at"].isoformat()
    return secrets


@blueprint.get("")
@admin_required
def list_all() -> dict[str, Any]:
    return {"integrations": [integration_view(i) for i in integrations.all_active(app_runtime().db)]}


@blueprint.get("/<integration_id>")
@admin_required
def show(integration_id: str) -> dict[str, Any]:
    return integration_view(found(integration_id))


@blueprint.patch("/<integration_id>")
@admin_required
def patch(integration_id: str) -> dict[str, Any]:
    integration = found(integration_id)
    data = load(IntegrationPatchSchema(), json_body())
    provider = data.get("provider", {})
    if provider.get("kind") not in (None, integration.provider_kind):
        raise ApiError(409, "invalid body", fields={"provider": {"kind": ["cannot be changed"]}})
    rt = app_runtime()
    values = _merged_values(integration, data)
    extra = defaults_check.on_patch(rt, integration, data)  # 400 for an unknown default
    if extra:
        values["settings"] = {**values.get("settings", integration.settings or {}), **extra}
    integrations.update(rt.db, integration.id, **values)
    secrets = _provider_secrets(provider)
    source = data.get("source", {})
    if source.get("api_key"):
        secrets["source_api_key"] = source["api_key"]
    if source.get("signing_secret"):
        secrets["signing_secret"] = source["signing_secret"]
    if secrets:
        integrations.merge_secrets(rt.db, rt.vault, integration.id, secrets)
    return integration_view(found(integration.id))


def _merged_values(integration: Integration, data: dict[str, Any]) -> dict[str, Any]:
    """PATCH merges: a key not sent is left as it is (interface §3)."""
    values: dict[str, Any] = {}
    for key in ("name", "status"):
        if key in data:
            values[key] = data[key]
    if data.get("status") == IntegrationStatus.ACTIVE:
        values["status_reason"] = None
    if "policies" in data:
        values["policies"] = {**(integration.policies or {}), **data["policies"]}
    if "source" in data and "subdomain" in data["source"]:
        values["source_subdomain"] = data["source"]["subdomain"]
    settings = dict(integration.settings or {})
    view = IntegrationSettings.of(integration)
    source, provider = data.get("source", {}), data.get("provider", {})
    if "api_url" in source or "signing_secret" in source:
        changes: dict[str, Any] = {}
        if "api_url" in source:
            changes["api_url"] = source["api_url"]
        if "signing_secret" in source:
            changes["signed"] = bool(source["signing_secret"])
        settings["source"] = view.source_merged(changes)
    provider_settings = {k: provider[k] for k in PROVIDER_SETTINGS if k in provider}
    if provider_settings:
        settings["provider"] = view.provider_merged(provider_settings)
    if "rate_limits" in data:
        settings["rate_limits"] = view.rate_limits_merged(data["rate_limits"])
    if settings != (integration.settings or {}):
        values["settings"] = settings
    return values


@blueprint.delete("/<integration_id>")
@admin_required
def delete(integration_id: str) -> tuple[str, int]:
    integration = found(integration_id)
    rt = app_runtime()
    try:
        webhook_registration.unregister(rt, integration)
    except RateLimited as error:
        # Nothing is deleted yet: the caller tries again (interface §7, at most ~2 s of waiting).
        raise ApiError(503, "the rental system's rate limit has no room now; try again",
                       headers={"Retry-After": str(max(1, math.ceil(error.retry_after)))}) from None
    integrations.soft_delete(rt.db, integration.id)
    return "", 204


@blueprint.post("/<integration_id>/register-webhooks")
@admin_required
def register_webhooks(integration_id: str) -> dict[str, Any]:
    integration = found(integration_id)
    rt = app_runtime()
    # The secret is never stored in clear, so registering again needs a new one; the old one
    # stays valid for 24 hours like any rotation, so nothing in flight is refused.
    token, valid_until = rotated_token(rt, integration.id)
    url = webhook_registration.webhook_url(rt, integration.id, token)
    webhook_registration.register(rt, found(integration.id), url)
    return {**integration_view(found(integration.id)), "webhook_url": url,
            "previous_valid_until": valid_until.isoformat()}


@blueprint.post("/<integration_id>/rotate-webhook-token")
@admin_required
def rotate_webhook_token(integration_id: str) -> dict[str, Any]:
    integration = found(integration_id)
    rt = app_runtime()
    token, valid_until = rotated_token(rt, integration.id)
    url = webhook_registration.webhook_url(rt, integration.id, token)
    webhook_registration.repoint(rt, found(integration.id), url)
    return {"webhook_url": url, "previous_valid_until": valid_until.isoformat()}


@blueprint.post("/<integration_id>/reconcile")
@admin_required
def reconcile_now(integration_id: str) -> tuple[dict[str, Any], int]:
    """Run the reconciliation poll for this integration at once (interface §5)."""
    integration = found(integration_id)
    try:
        messages.send(messages.RECONCILE_INTEGRATION, integration.id)
    except Exception:
        raise ApiError(503, "the queue is unavailable; try again", headers={"Retry-After": "5"}) from None
    return {"integration_id": integration.id, "status": "queued"}, 202
