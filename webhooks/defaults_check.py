"""``defaults`` and ``mapping.custom_fields`` checked when an integration is saved (interface §11).

Unknown keys, targets and malformed values are refused offline; each value that names
something in the accounting system (a currency, an account code, a group, a term) is looked up
there, and an unknown one is a 400 naming the key and the value. Nothing is stored then.

On create the integration is not stored yet, so the look-up uses the access token of the body
as it is (it is never refreshed here: a refresh would spend the refresh token before the
integration that keeps the new one exists). Without a usable token the defaults cannot be
checked, and the answer says to connect first and set them with PATCH.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, TypeVar

from core.errors import CredentialsRefused, ProviderError, RateLimited, Transient
from core.integration_settings import IntegrationSettings
from core.ratelimit import RateLimiter
from core.runtime import Runtime
from core.tables import Integration
from providers import defaults as provider_defaults
from providers import factory, registry
from providers.base import AccountingProvider, ProviderContext
from providers.registry import provider_class
from webhooks.errors import ApiError

#: Seconds a save may wait for the accounting system's rate limiter.
ANSWER_WAIT_SECONDS = 2.0
T = TypeVar("T")


class _GivenToken:
    """The body's access token, for one look-up; a refused one is not refreshed."""

    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh_after_rejection(self, rejected_token: str) -> str:
        raise CredentialsRefused("the given access token was refused", system="provider",
                                 reason="the accounting system refused the given access token")


def _settings_of(data: dict[str, Any]) -> dict[str, Any]:
    """What goes into ``Integration.settings``: the defaults, their look-ups, the mapping."""
    out: dict[str, Any] = {}
    if "defaults" in data:
        out["defaults"] = {k: v for k, v in data["defaults"].items() if v is not None}
    if "mapping" in data:
        out["mapping"] = {"custom_fields": {k: v for k, v in
                                            (data["mapping"].get("custom_fields") or {}).items()
                                            if v is not None}}
    return out


def _refuse_form(kind: str, defaults: dict[str, Any] | None, custom: dict[str, Any] | None) -> None:
    problems = provider_defaults.form_errors(kind, defaults, custom)
    if problems:
        raise ApiError(400, "invalid body", fields=problems)


def _needs_lookup(kind: str, defaults: dict[str, Any]) -> bool:
    keys = provider_defaults.default_keys(kind)
    return any(v is not None and keys[k].exists is not None for k, v in defaults.items())


def _resolve(provider_for: Callable[[], AccountingProvider], defaults: dict[str, Any]) -> dict[str, Any]:
    try:
        resolved, problems = provider_defaults.resolve(provider_for(), defaults)
    except RateLimited as error:
        raise ApiError(503, "the accounting system's rate limit has no room to check the defaults",
                       headers={"Retry-After": str(max(1, round(error.retry_after)))}) from None
    except Transient:
        raise ApiError(503, "the accounting system is not answering; the defaults cannot be checked",
                       headers={"Retry-After": "5"}) from None
    except CredentialsRefused:
        raise ApiError(400, "invalid body", fields={"defaults": [
            "cannot be checked: the accounting system refused the credentials; connect it, "
            "then set the defaults with PATCH"]}) from None
    except ProviderError as error:
        raise ApiError(400, "invalid body", fields={"defaults": [
            provider_defaults.lookup_failed(error)]}) from None
    if problems:
        raise ApiError(400, "invalid body", fields=problems)
    return resolved


def on_create(rt: Runtime, data: dict[str, Any]) -> dict[str, Any]:
    """Settings to store with a new integration; 400 (nothing stored) for a refused value."""
    kind = data["provider"]["kind"]
    defaults = data.get("defaults") or {}
    _refuse_form(kind, defaults, (data.get("mapping") or {}).get("custom_fields"))
    extra = _settings_of(data)
    if defaults and _needs_lookup(kind, defaults):
        extra["defaults_resolved"] = _resolve(lambda: _provider_from_body(rt, data), defaults)
    elif defaults:
        extra["defaults_resolved"] = dict(extra.get("defaults", {}))
    return extra


def on_patch(rt: Runtime, integration: Integration, data: dict[str, Any]) -> dict[str, Any]:
    """Settings a PATCH changes (merged key by key; ``null`` removes a key); 400 if refused."""
    if "defaults" not in data and "mapping" not in data:
        return {}
    kind = integration.provider_kind
    view = IntegrationSettings.of(integration)
    _refuse_form(kind, data.get("defaults"), (data.get("mapping") or {}).get("custom_fields"))
    extra: dict[str, Any] = {}
    if "defaults" in data:
        merged = {**view.defaults, **data["defaults"]}
        merged = {k: v for k, v in merged.items() if v is not None}
        extra["defaults"] = merged
        extra["defaults_resolved"] = _resolve(
            lambda: factory.accounting_provider(rt, integration, max_wait=ANSWER_WAIT_SECONDS), merged,
        ) if _needs_lookup(kind, merged) else dict(merged)
    if "mapping" in data:
        current = view.custom_fields
        merged_map = {**current, **(data["mapping"].get("custom_fields") or {})}
        extra["mapping"] = {"custom_fields": {k: v for k, v in merged_map.items() if v is not None}}
    return extra


def _provider_from_body(rt: Runtime, data: dict[str, Any]) -> AccountingProvider:
    provider = data["provider"]
    kind = provider["kind"]
    token, expires_at = provider.get("access_token"), provider.get("expires_at")
    soon = datetime.now(timezone.utc) + timedelta(seconds=60)
    if not token or (expires_at is not None and expires_at < soon):
        raise CredentialsRefused("no usable access token", system=kind,
                                 reason="no usable access token in the body")
    tenant = provider.get(registry.TENANT_KEYS[kind])
    transient = Integration(id="unsaved", provider_kind=kind, settings={
        "rate_limits": data.get("rate_limits") or {}})
    app = rt.settings.providers[kind]
    context = ProviderContext(
        integration_id="unsaved", api_url=provider.get("api_url") or app.api_url,
        tokens=_GivenToken(token), tenant=tenant,
        gate=RateLimiter(rt.redis, system=kind, tenant=tenant or "unsaved",
                         limits=factory.limits_for(rt, kind, transient), priority="live",
                         max_wait=ANSWER_WAIT_SECONDS),
        timeout=rt.settings.http_timeout,
    )
    return provider_class(kind)(context)
