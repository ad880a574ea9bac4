"""What an integration adds to the mapped fields when it writes a contact (interface §11), in
the few calls the sync's write path needs (the call sites are the sync's; see the README).

- ``for_create``: the field-limit check, then the defaults and the custom-field values, added
  to the system's own create body; and what must follow the create (Xero: join the group).
- ``for_update``: the field-limit check and the custom-field values only: an overwrite never
  resets a default the accountant changed.
- ``follow_create``: run what must follow a create (the executor's creates and the ledger's
  recreate alike).
- ``renamed_for_clash``: with ``on_name_clash: suffix``, the fields to create again after a
  name clash (QuickBooks' clash with a vendor or employee included), else ``None``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Callable, Mapping

import structlog

from core.errors import ProviderError
from core.integration_settings import IntegrationSettings
from core.models import Contact, ContactFields, Organisation
from core.name_clash import on_name_clash_of, suffixed_name
from providers import defaults, field_limits
from providers.base import AccountingProvider

AfterCreate = Callable[[AccountingProvider, Contact], None]
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Extras:
    #: Why the system would refuse this write (field and limit): the event fails with it.
    refusal: str | None = None
    #: Added to the create (or update) body, in the system's own shape.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    resolved: Mapping[str, Any] = field(default_factory=dict)
    custom: Mapping[str, str] = field(default_factory=dict)
    after_create: tuple[AfterCreate, ...] = ()

    @property
    def carries_more(self) -> bool:
        """Whether the write adds anything to the mapped fields (a default, a custom field, a
        step after the create)."""
        return bool(any(v is not None for v in self.defaults.values()) or self.custom or self.after_create)

    def apply(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` (the payload of one contact) with the defaults and custom fields added."""
        defaults.apply_to_create(kind, body, self.defaults, self.resolved)
        return defaults.apply_custom_fields(kind, body, self.custom)


def for_update(kind: str, settings: Mapping[str, Any], organisation: Organisation) -> Extras:
    refusal = field_limits.refusal(kind, organisation.fields)
    custom_fields = IntegrationSettings.from_parts(kind, settings).custom_fields
    custom, custom_refusal = defaults.custom_field_values(kind, organisation.custom_fields, custom_fields)
    return Extras(refusal=refusal or custom_refusal, custom=custom)


def for_create(kind: str, settings: Mapping[str, Any], organisation: Organisation,
               fields: ContactFields | None = None) -> Extras:
    """``fields``: the fields to be sent when they differ from the organisation's (a suffixed
    name); the limits are checked on what is sent."""
    sent = fields or organisation.fields
    refusal = field_limits.refusal(kind, sent)
    view = IntegrationSettings.from_parts(kind, settings)
    custom, custom_refusal = defaults.custom_field_values(kind, organisation.custom_fields, view.custom_fields)
    chosen, resolved = view.defaults, view.defaults_resolved
    follows = getattr(import_module(f"providers.{kind}.defaults"), "AFTER_CREATE", {})
    after = tuple(_after(follows[key], resolved[key]) for key in chosen
                  if key in follows and key in resolved)
    return Extras(refusal=refusal or custom_refusal, defaults=chosen, resolved=resolved,
                  custom=custom, after_create=after)


def follow_create(extras: Extras | None, provider: AccountingProvider, contact: Contact,
                  **context: Any) -> None:
    """What must follow a create (Xero: join the default group). The link stands either way:
    a failure here is logged, not retried (a retry would find the contact linked)."""
    if extras is None:
        return
    for follow in extras.after_create:
        try:
            follow(provider, contact)
        except ProviderError as error:
            log.warning("after-create step failed", contact_id=contact.id, error=str(error), **context)


def _after(follow: Callable[[AccountingProvider, Any, str], None], resolved: Any) -> AfterCreate:
    def run(provider: AccountingProvider, contact: Contact) -> None:
        follow(provider, resolved, contact.id)
    return run


def renamed_for_clash(kind: str, policies: Mapping[str, Any] | None, fields: ContactFields,
                      organisation_id: int) -> ContactFields | None:
    """The fields to create again after a name clash, or ``None`` (``on_name_clash: fail``)."""
    if on_name_clash_of(dict(policies or {})) != "suffix":
        return None
    name = suffixed_name(fields.name, account_number=fields.account_number,
                         organisation_id=organisation_id, max_length=field_limits.name_length(kind))
    return None if name == fields.name else dataclasses.replace(fields, name=name)
