"""A typed view of one integration's stored, non-secret configuration.

``Integration.settings`` is a JSON column (``source``, ``provider``, ``provider_state``,
``rate_limits``, ``defaults``, ``defaults_resolved``, ``mapping``, and the state some workers
keep under their own key) and ``Integration.policies`` another; this module is the one reader of their
shapes, so no caller walks nested dicts with ``.get(..., {})``. The view is read-only: writes go
through ``core.store.integrations`` (``merge_settings``), with ``provider_merged`` building the
new ``provider`` part without losing keys this view does not name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from core.models import Policies


class StoredIntegration(Protocol):
    """What the view reads of an integration row (``core.tables.Integration``)."""

    provider_kind: str
    settings: dict[str, Any]
    policies: dict[str, Any]


def _part(raw: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    value = (raw or {}).get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return str(value) if value else None


@dataclass(frozen=True)
class SourceSettings:
    """The rental-system side: its API base (``None``: ``CURRENT_RMS_API_URL``) and whether
    its webhooks are signed (a signing secret is stored)."""

    api_url: str | None = None
    signed: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> SourceSettings:
        source = _part(settings, "source")
        return cls(api_url=_text(source, "api_url"), signed=bool(source.get("signed")))


@dataclass(frozen=True)
class ProviderSettings:
    """The accounting-system side: URL overrides (``None``: the ``<PREFIX>_*_URL`` variables)
    and the tenant, read under the kind's ``tenant_key``."""

    api_url: str | None = None
    token_url: str | None = None
    tenant: str | None = None


@dataclass(frozen=True)
class IntegrationSettings:
    kind: str
    source: SourceSettings = field(default_factory=SourceSettings)
    provider: ProviderSettings = field(default_factory=ProviderSettings)
    #: Non-secret state a provider keeps (Xero ShortCode, Sage business): free-form per kind.
    provider_state: Mapping[str, Any] = field(default_factory=dict)
    #: Per-system limit overrides: system -> {limit name: value} (interface §3).
    rate_limits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    policies: Policies = field(default_factory=Policies)
    #: Values chosen for a created contact (interface §3 ``defaults``): name -> value.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: The same defaults as the provider's ids, looked up when they were set.
    defaults_resolved: Mapping[str, Any] = field(default_factory=dict)
    #: ``mapping.custom_fields``: rental-system custom field -> accounting-system field.
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    _provider_raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _source_raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, integration: StoredIntegration) -> IntegrationSettings:
        return cls.from_parts(integration.provider_kind, integration.settings, integration.policies)

    @classmethod
    def from_parts(cls, kind: str, settings: Mapping[str, Any] | None,
                   policies: Mapping[str, Any] | None = None) -> IntegrationSettings:
        provider = _part(settings, "provider")
        key = _tenant_key(kind)
        rate_limits = {system: dict(limits) for system, limits in _part(settings, "rate_limits").items()
                       if isinstance(limits, Mapping)}
        return cls(
            kind=kind,
            source=SourceSettings.from_settings(settings),
            provider=ProviderSettings(
                api_url=_text(provider, "api_url"), token_url=_text(provider, "token_url"),
                tenant=_text(provider, key) if key else None,
            ),
            provider_state=_part(settings, "provider_state"),
            rate_limits=rate_limits,
            policies=Policies.from_dict(dict(policies or {})),
            defaults=_part(settings, "defaults"),
            defaults_resolved=_part(settings, "defaults_resolved"),
            custom_fields=_part(_part(settings, "mapping"), "custom_fields"),
            _provider_raw=provider,
            _source_raw=_part(settings, "source"),
            _raw=dict(settings or {}),
        )

    @property
    def provider_stored(self) -> dict[str, Any]:
        """Every key of the stored ``provider`` part, named by this view or not (for answers)."""
        return dict(self._provider_raw)

    def state_of(self, key: str) -> dict[str, Any]:
        """The part a worker keeps its own state under (``ledger_poll``, ``link_verify``);
        empty when absent or not an object."""
        return _part(self._raw, key)

    def limit_overrides(self, system: str) -> dict[str, int]:
        return dict(self.rate_limits.get(system, {}))

    def provider_merged(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The stored ``provider`` part with ``changes`` applied (for ``merge_settings``)."""
        return {**self._provider_raw, **changes}

    def source_merged(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The stored ``source`` part with ``changes`` applied (for a PATCH)."""
        return {**self._source_raw, **changes}

    def rate_limits_merged(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The stored ``rate_limits`` with ``changes`` applied: a system sent replaces that system's
        limits (for a PATCH)."""
        return {**self.rate_limits, **changes}

    def provider_state_merged(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The stored ``provider_state`` with ``changes`` applied (for ``merge_settings``)."""
        return {**self.provider_state, **changes}


def _tenant_key(kind: str) -> str | None:
    """The kind's ``tenant_key``; ``None`` for a kind no provider serves."""
    # Imported here: provider packages import core modules.
    from providers.registry import TENANT_KEYS

    return TENANT_KEYS.get(kind)
