"""Build the clients of one integration: its accounting provider and its rental system.

The one place that knows how an integration's stored settings and sealed secrets become a
``ProviderContext``: tokens refreshed under a lock and saved before use, a rate limiter shared
through Redis, the configured (never request-supplied) URLs.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from core.integration_settings import IntegrationSettings
from core.models import IntegrationStatus
from core.ratelimit import MAX_WAIT, Limits, RateLimiter, published_limits
from core.runtime import Runtime
from core.store import integrations
from core.tables import Integration
from providers.base import AccountingProvider, ProviderContext
from providers.current_rms import CurrentRMS
from providers.oauth import OAuthTokens, TokenSet
from providers.registry import provider_class


def limits_for(rt: Runtime, system: str, integration: Integration) -> Limits:
    """Published limits, overridden per integration (``settings.rate_limits``) and shortened
    in tests and benchmarks (``RATE_LIMIT_WINDOW_SECONDS``)."""
    limits = published_limits(system)
    overrides = IntegrationSettings.of(integration).limit_overrides(system)
    fields: dict[str, Any] = {**limits.__dict__, **overrides}
    if rt.settings.rate_limit_window_seconds:
        fields["window"] = rt.settings.rate_limit_window_seconds
    return Limits(**fields)


def accounting_provider(
    rt: Runtime, integration: Integration, *, priority: str = "live", max_wait: float = 30.0,
) -> AccountingProvider:
    cls = provider_class(integration.provider_kind)
    return cls(provider_context(rt, integration, priority=priority, max_wait=max_wait))


def provider_context(
    rt: Runtime, integration: Integration, *, priority: str = "live", max_wait: float = 30.0,
) -> ProviderContext:
    """Who, where and with which tokens and limiter an integration's provider calls."""
    kind = integration.provider_kind
    cls = provider_class(kind)
    app = rt.settings.providers[kind]
    settings = IntegrationSettings.of(integration)
    tenant = settings.provider.tenant
    return ProviderContext(
        integration_id=integration.id,
        api_url=settings.provider.api_url or app.api_url,
        tokens=_tokens(rt, integration, cls),
        tenant=tenant,
        config=dict(settings.provider_state),
        save_config=lambda changes: _save_state(rt, integration.id, changes),
        gate=RateLimiter(
            # Limits are per accounting organisation: two integrations on one tenant share them.
            rt.redis, system=kind, tenant=tenant or f"integration:{integration.id}",
            limits=limits_for(rt, kind, integration), priority=priority, max_wait=max_wait,
        ),
        timeout=rt.settings.http_timeout,
        web_url=app.web_url,
    )


def rental_system(rt: Runtime, integration: Integration, *, priority: str = "live",
                  max_wait: float = MAX_WAIT) -> CurrentRMS:
    secrets = integrations.secrets_of(rt.vault, integration)
    source = IntegrationSettings.of(integration).source
    return CurrentRMS(
        api_url=source.api_url or rt.settings.current_rms_api_url,
        subdomain=integration.source_subdomain,
        api_key=secrets.get("source_api_key", ""),
        timeout=rt.settings.http_timeout,
        gate=RateLimiter(
            rt.redis, system="current_rms", tenant=integration.source_subdomain,
            limits=limits_for(rt, "current_rms", integration), priority=priority, max_wait=max_wait,
        ),
    )


def _save_state(rt: Runtime, integration_id: str, changes: dict[str, Any]) -> None:
    integration = integrations.get(rt.db, integration_id)
    if integration is None:
        return
    state = IntegrationSettings.of(integration).provider_state_merged(changes)
    integrations.merge_settings(rt.db, integration_id, {"provider_state": state})


def _tokens(rt: Runtime, integration: Integration, cls: type[AccountingProvider]) -> OAuthTokens:
    kind = integration.provider_kind
    app = rt.settings.providers[kind]
    provider_settings = IntegrationSettings.of(integration).provider
    secrets = integrations.secrets_of(rt.vault, integration)
    integration_id = integration.id

    def load() -> TokenSet:
        current = integrations.get(rt.db, integration_id)
        stored = integrations.secrets_of(rt.vault, current) if current else {}
        return token_set(stored)

    def save(tokens: TokenSet) -> None:
        integrations.merge_secrets(rt.db, rt.vault, integration_id, {
            "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at.isoformat(),
        })

    def refused(reason: str) -> None:
        integrations.set_status(rt.db, integration_id, IntegrationStatus.RECONNECT_NEEDED, reason)

    return OAuthTokens(
        redis=rt.redis, integration_id=integration_id, system=kind,
        token_url=provider_settings.token_url or app.token_url,
        client_id=secrets.get("client_id") or app.client_id or "",
        client_secret=secrets.get("client_secret") or app.client_secret or "",
        client_auth=cls.oauth_client_auth, load=load, save=save, on_refused=refused,
        vault=rt.vault, timeout=rt.settings.http_timeout,
    )


def token_set(secrets: dict[str, Any]) -> TokenSet:
    """The stored tokens; a missing expiry counts as expired so the first call refreshes."""
    raw = secrets.get("expires_at")
    expires_at = (
        datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw
        else datetime.now(timezone.utc) - timedelta(seconds=1)
    )
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=timezone.utc)
    return TokenSet(
        access_token=secrets.get("access_token", ""),
        refresh_token=secrets.get("refresh_token", ""),
        expires_at=expires_at,
    )
