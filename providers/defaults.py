"""Defaults for new contacts (``defaults``) and custom-field targets (``mapping.custom_fields``).

interface §11. Each system declares, in ``providers/<kind>/defaults.py``:

- ``DEFAULTS``: the keys an integration may set, each with its form check (offline), its
  look-up in the accounting system (``exists``: does the currency, account, group or term
  exist there? one call per key) and how it enters a CREATE body (``apply``);
- ``CUSTOM_FIELD_TARGETS``: the contact fields a rental-system custom field may be mapped onto,
  with the limit the system puts on them.

Defaults only ever go into a create body: an overwrite never resets what the accountant changed.
A value is checked when the integration is saved or patched; the look-up's answer (a term's id,
a group's id) is stored beside the defaults as ``resolved``, so a create needs no extra call.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Mapping

from core.errors import ProviderError
from providers.base import AccountingProvider
from providers.field_limits import Limit, check

#: ``exists(provider, value)`` -> the resolved reference to store, or None when unknown; it
#: raises ``NotOffered`` when the system says why the value cannot be used there.
Lookup = Callable[[AccountingProvider, Any], Any]


class NotOffered(Exception):
    """A value the accounting system knows but will not take here, and why (the 400 says so:
    a foreign currency in a QuickBooks company without multicurrency)."""
#: ``apply(body, value, resolved)``: put the default into a create body (in place).
Apply = Callable[[dict[str, Any], Any, Any], None]


@dataclass(frozen=True)
class DefaultKey:
    key: str
    #: One line for the README and for error messages.
    meaning: str
    #: Offline check of the value's form: the problem, or None.
    form: Callable[[Any], str | None]
    apply: Apply
    exists: Lookup | None = None
    #: What the look-up failure is called in the 400 ("currency", "account code"...).
    noun: str = "value"


@dataclass(frozen=True)
class CustomTarget:
    target: str
    limit: Limit
    #: ``put(body, text)``: write the value into a create or update body (in place).
    put: Callable[[dict[str, Any], str], None]


def _system(kind: str) -> Any:
    return import_module(f"providers.{kind}.defaults")


def default_keys(kind: str) -> Mapping[str, DefaultKey]:
    keys: Mapping[str, DefaultKey] = _system(kind).DEFAULTS
    return keys


def custom_targets(kind: str) -> Mapping[str, CustomTarget]:
    targets: Mapping[str, CustomTarget] = _system(kind).CUSTOM_FIELD_TARGETS
    return targets


# -- checks when an integration is saved ---------------------------------------------------
def form_errors(kind: str, defaults: Mapping[str, Any] | None,
                custom_fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """Offline problems, shaped like the API's ``fields`` (``{"defaults": {key: [...]}}``)."""
    problems: dict[str, Any] = {}
    keys = default_keys(kind)
    for key, value in (defaults or {}).items():
        spec = keys.get(key)
        if spec is None:
            problems.setdefault("defaults", {})[key] = [
                f"unknown default for {kind}; one of: {', '.join(keys)}"]
            continue
        if value is None:
            continue  # PATCH: removes the default
        problem = spec.form(value)
        if problem:
            problems.setdefault("defaults", {})[key] = [problem]
    targets = custom_targets(kind)
    for source, target in (custom_fields or {}).items():
        if not isinstance(source, str) or not source.strip() or len(source) > 100:
            problems.setdefault("mapping", {}).setdefault("custom_fields", {})[str(source)] = [
                "a custom field name of 1 to 100 characters"]
        elif target is not None and target not in targets:
            problems.setdefault("mapping", {}).setdefault("custom_fields", {})[source] = [
                f"unknown target {target!r} for {kind}; one of: {', '.join(targets)}"]
    return problems


def resolve(provider: AccountingProvider, defaults: Mapping[str, Any]
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Look each default up in the accounting system: ``(resolved, problems)``.

    ``problems`` names each unknown key and value (``{"defaults": {key: [...]}}``); a look-up
    that fails for the system's own reasons (down, rate limit) raises its ``ProviderError``."""
    keys = default_keys(provider.kind)
    resolved: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for key, value in defaults.items():
        spec = keys[key]
        if value is None:
            continue
        if spec.exists is None:
            resolved[key] = value
            continue
        try:
            found = spec.exists(provider, value)
        except NotOffered as refusal:
            problems[key] = [str(refusal)]
            continue
        if found is None:
            problems[key] = [f"{provider.title} has no {spec.noun} {value!r}"]
        else:
            resolved[key] = found
    return resolved, ({"defaults": problems} if problems else {})


# -- the create path ------------------------------------------------------------------------
def apply_to_create(kind: str, body: dict[str, Any], defaults: Mapping[str, Any] | None,
                    resolved: Mapping[str, Any] | None) -> dict[str, Any]:
    """``body`` (the system's create payload for one contact) with the defaults added.

    Only for creates: update bodies never carry them. A field the body already sets is left
    alone (the mapped value wins over a default)."""
    keys = default_keys(kind)
    for key, value in (defaults or {}).items():
        if value is None or key not in keys:
            continue
        keys[key].apply(body, value, (resolved or {}).get(key, value))
    return body


def custom_field_values(kind: str, custom_fields: Mapping[str, Any],
                        mapping: Mapping[str, str] | None) -> tuple[dict[str, str], str | None]:
    """``({target: text}, refusal)``: the organisation's custom-field values by target, or
    the reason one cannot be held (field, limit; never truncated)."""
    targets = custom_targets(kind)
    values: dict[str, str] = {}
    for source, target in (mapping or {}).items():
        if target not in targets:
            continue
        raw = custom_fields.get(source)
        text = "" if raw in (None, False) else str(raw).strip()
        reason = check(targets[target].limit, text, f"custom field {source!r}")
        if reason:
            return {}, reason
        values[target] = text
    return values, None


def apply_custom_fields(kind: str, body: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """Write the custom-field values into a create or update body (Current RMS wins)."""
    targets = custom_targets(kind)
    for target, text in values.items():
        targets[target].put(body, text)
    return body


def lookup_failed(error: ProviderError) -> str:
    return f"the accounting system could not be asked ({error.reason})"
