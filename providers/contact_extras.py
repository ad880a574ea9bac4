"""What an integration adds to the mapped fields when it writes a contact (interface §11), in
the few calls the sync's write path needs (the call sites are the sync's; see the README).

- ``for_create``: the field-limit check, then the defaults and the custom-field values, added
  to the system's own create body; and what must follow the create (Xero: join the group),
  which ``follow_creates`` runs once for all the contacts a batch made.
- ``for_update``: the field-limit check and the custom-field values only: an overwrite never
  resets a default the accountant changed.
- ``follow_create``: run what must follow a create (the executor's creates and the ledger's
  recreate alike).
- ``renamed_for_clash``: with ``on_name_clash: suffix``, the fields to create again after a
  name clash (QuickBooks' clash with a vendor or employee included), else ``None``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Callable, Mapping, Sequence

import structlog

from core.errors import ProviderError
from core.integration_settings import IntegrationSettings
from core.models import Contact, ContactFields, Organisation
from core.name_clash import on_name_clash_of, suffixed_name
from providers import defaults, field_limits
from providers.base import AccountingProvider

#: ``follow(provider, resolved, contact_ids)``: a default acting after the creates, for all the
#: new contacts that share its value at once (Xero: one group join for a whole batch).
Follow = Callable[[AccountingProvider, Any, list[str]], None]


@dataclass(frozen=True)
class AfterCreate:
    key: str  #: the default's key (``contact_group``)
    resolved: Any
    follow: Follow


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
    after = tuple(AfterCreate(key, resolved[key], follows[key]) for key in chosen
                  if key in follows and key in resolved)
    return Extras(refusal=refusal or custom_refusal, defaults=chosen, resolved=resolved,
                  custom=custom, after_create=after)


def follow_creates(provider: AccountingProvider, made: Sequence[tuple[Extras, Contact]]) -> None:
    """What must follow the creates in ``made``: each step once per value, for every contact
    that needs it (a batch of 50 new Xero contacts joins its group in one call, not 50)."""
    steps: dict[tuple[str, str], tuple[AfterCreate, list[str]]] = {}
    for extras, contact in made:
        for step in extras.after_create:
            same = (step.key, json.dumps(step.resolved, sort_keys=True, default=str))
            steps.setdefault(same, (step, []))[1].append(contact.id)
    for step, contact_ids in steps.values():
        step.follow(provider, step.resolved, contact_ids)


def follow_create(extras: Extras | None, provider: AccountingProvider, contact: Contact,
                  **context: Any) -> None:
    """What must follow one create (the ledger's recreate): ``follow_creates`` for one contact.
    The link stands either way: a failure here is logged, not retried (a retry would find the
    contact linked)."""
    if extras is None:
        return
    try:
        follow_creates(provider, [(extras, contact)])
    except ProviderError as error:
        log.warning("after-create step failed", contact_id=contact.id, error=str(error), **context)


def renamed_for_clash(kind: str, policies: Mapping[str, Any] | None, fields: ContactFields,
                      organisation_id: int) -> ContactFields | None:
    """The fields to create again after a name clash, or ``None`` (``on_name_clash: fail``)."""
    if on_name_clash_of(dict(policies or {})) != "suffix":
        return None
    name = suffixed_name(fields.name, account_number=fields.account_number,
                         organisation_id=organisation_id, max_length=field_limits.name_length(kind))
    return None if name == fields.name else dataclasses.replace(fields, name=name)
