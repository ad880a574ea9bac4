"""The Xero stand-in's memory: tenants, their contacts, tokens, limits, idempotent answers.

One lock guards contacts so that the uniqueness rules hold across concurrent writes. Reached
as ``app.extensions["sandbox"]`` for in-process assertions.
"""
from __future__ import annotations

import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.models import same_name
from sandbox.webhooks import WebhookSender, xero_sender
from sandbox.xero import contacts as shapes
from sandbox.xero import settings
from sandbox.xero.throttle import Throttle
from sandbox.xero.tokens import TokenStore

#: How long an ``Idempotency-Key`` replays its first answer. The spec gives none; the
#: 6-minute window appears only in third-party notes (A1): unconfirmed.
IDEMPOTENCY_WINDOW = 6 * 60.0


@dataclass
class Tenant:
    """One Xero organisation. Its tenant id is also its ``OrganisationID``."""

    id: str
    name: str
    short_code: str
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ContactGroupID -> group, with the ids of its contacts (``sandbox.xero.settings``)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Folded name (and account number) -> ids of contacts stored with it: the uniqueness check
    #: looks there instead of at every contact (a scan per write made a 10,000-contact export
    #: spend most of its time inside this stand-in, issue 18). Entries may be stale (renamed,
    #: archived, deleted): the check re-reads the contact itself, so the index only narrows.
    by_name: dict[str, set[str]] = field(default_factory=dict)
    by_number: dict[str, set[str]] = field(default_factory=dict)

    def store(self, contact: dict[str, Any]) -> None:
        """Keep ``contact`` (every contact is stored through here, so the indexes know it)."""
        self.contacts[contact["ContactID"]] = contact
        self.by_name.setdefault(_folded(contact["Name"]), set()).add(contact["ContactID"])
        if contact["AccountNumber"]:
            self.by_number.setdefault(_folded(contact["AccountNumber"]), set()).add(contact["ContactID"])

    def active_others(self, index: dict[str, set[str]], value: str, contact_id: str) -> list[dict[str, Any]]:
        """The ACTIVE contacts other than ``contact_id`` that the index files under ``value``."""
        found = (self.contacts.get(other) for other in index.get(_folded(value), ()) if other != contact_id)
        return [c for c in found if c is not None and c["ContactStatus"] == "ACTIVE"]


def _folded(value: str) -> str:
    """The form ``same_name`` compares."""
    return value.strip().casefold()


@dataclass
class ElementResult:
    """What became of one element of a write: the stored contact, or the refused echo."""

    contact: dict[str, Any] | None = None
    echo: dict[str, Any] | None = None
    #: A new contact (a webhook ``CREATE``), not an update (``UPDATE``).
    created: bool = False

    @property
    def ok(self) -> bool:
        return self.contact is not None


@dataclass
class StoredAnswer:
    status: int
    body: bytes
    stored_at: float


def short_code() -> str:
    """A ShortCode like the spec's ``"!mBdtL"``."""
    return "!" + "".join(secrets.choice(string.ascii_letters) for _ in range(5))


class XeroState:
    """Everything the stand-in remembers, thread-safe."""

    def __init__(self, *, tokens: TokenStore, throttle: Throttle,
                 idempotency_window: float = IDEMPOTENCY_WINDOW,
                 webhooks: WebhookSender | None = None) -> None:
        self.tokens = tokens
        self.webhooks = webhooks or xero_sender()
        #: The last event sequence number sent to each webhook subscription.
        self.sequences: dict[int, int] = {}
        self.throttle = throttle
        self.idempotency_window = idempotency_window
        self.tenants: dict[str, Tenant] = {}
        self.answers: dict[tuple[str, str], StoredAnswer] = {}
        self.replays = 0
        self.lock = threading.RLock()

    # -- tenants ----------------------------------------------------------------------------
    def tenant(self, tenant_id: str | None = None) -> Tenant:
        """The tenant ``tenant_id``, made on first use (a new id when none is given)."""
        with self.lock:
            tenant_id = (tenant_id or str(uuid.uuid4())).lower()
            if tenant_id not in self.tenants:
                number = len(self.tenants) + 1
                self.tenants[tenant_id] = Tenant(tenant_id, f"Sandbox Organisation {number}", short_code())
            return self.tenants[tenant_id]

    def contact_count(self) -> int:
        with self.lock:
            return sum(len(t.contacts) for t in self.tenants.values())

    # -- writes -----------------------------------------------------------------------------
    def write(self, tenant: Tenant, elements: list[dict[str, Any]], *, upsert: bool,
              contact_id: str | None = None) -> list[ElementResult]:
        """Apply each element in order; a refused element does not stop the others (A3).

        ``upsert`` (POST) updates the element's ``ContactID``; PUT always creates.
        ``contact_id`` (POST /Contacts/{id}) names the contact to update; it must exist."""
        with self.lock:
            return [self._write_one(tenant, e, upsert=upsert, contact_id=contact_id) for e in elements]

    def _write_one(self, tenant: Tenant, element: dict[str, Any], *, upsert: bool,
                   contact_id: str | None) -> ElementResult:
        target_id = contact_id or (str(element.get("ContactID") or "").lower() if upsert else "")
        current = tenant.contacts.get(target_id) if target_id else None
        if target_id and current is None:
            # An upsert naming an unknown ContactID: Xero's wording is unconfirmed.
            return ElementResult(echo=shapes.echo(element, target_id, ["Contact not found."]))
        base = current or shapes.blank_contact(shapes.new_contact_id())
        merged = shapes.apply(base, element)
        errors = (shapes.field_errors(merged) + settings.default_errors(merged)
                  + self._clashes(tenant, merged))
        if errors:
            return ElementResult(echo=shapes.echo(element, target_id or shapes.ZERO_ID, errors))
        merged["UpdatedDateUTC"] = shapes.msdate()
        tenant.store(merged)
        return ElementResult(contact=merged, created=current is None)

    def _clashes(self, tenant: Tenant, contact: dict[str, Any]) -> list[str]:
        """Name unique among ACTIVE contacts (A3). AccountNumber likewise: unconfirmed whether
        Xero counts archived contacts too; active only mirrors the name rule."""
        if contact["ContactStatus"] != "ACTIVE":
            return []
        errors = []
        named = tenant.active_others(tenant.by_name, contact["Name"], contact["ContactID"])
        if any(same_name(c["Name"], contact["Name"]) for c in named):
            errors.append(shapes.NAME_TAKEN.format(name=contact["Name"]))
        number = contact["AccountNumber"]
        numbered = tenant.active_others(tenant.by_number, number, contact["ContactID"]) if number else []
        if any(same_name(c["AccountNumber"], number) for c in numbered):
            errors.append(shapes.ACCOUNT_NUMBER_TAKEN)
        return errors

    def seed(self, tenant: Tenant, element: dict[str, Any]) -> dict[str, Any]:
        """Store a contact as given, without the uniqueness rules (control route)."""
        with self.lock:
            contact_id = str(element.get("ContactID") or shapes.new_contact_id()).lower()
            contact = shapes.apply(shapes.blank_contact(contact_id), element)
            if element.get("MergedToContactID"):
                contact["MergedToContactID"] = str(element["MergedToContactID"]).lower()
            tenant.store(contact)
            return contact

    def merge(self, tenant: Tenant, source_id: str, target_id: str) -> dict[str, Any]:
        """Merge ``source`` into ``target`` as Xero's UI does: the source is archived and
        points at the target (``MergedToContactID``, A2). ``KeyError`` if either is unknown."""
        with self.lock:
            source, _ = tenant.contacts[source_id.lower()], tenant.contacts[target_id.lower()]
            source.update(ContactStatus="ARCHIVED", MergedToContactID=target_id.lower(),
                          UpdatedDateUTC=shapes.msdate())
            return source

    def archive(self, tenant: Tenant, contact_id: str) -> dict[str, Any]:
        """Archive as a person does in Xero's UI; ``KeyError`` if unknown."""
        with self.lock:
            contact = tenant.contacts[contact_id.lower()]
            contact.update(ContactStatus="ARCHIVED", UpdatedDateUTC=shapes.msdate())
            return contact

    def delete(self, tenant: Tenant, contact_id: str) -> dict[str, Any]:
        """Remove a contact outright. Xero's API and UI cannot delete contacts (they archive);
        this plays a contact erased on a GDPR request: every read of it answers 404."""
        with self.lock:
            return tenant.contacts.pop(contact_id.lower())

    # -- contact groups ---------------------------------------------------------------------
    def add_group(self, tenant: Tenant, name: str) -> dict[str, Any]:
        with self.lock:
            group = settings.new_group(name)
            tenant.groups[group["ContactGroupID"]] = group
            return group

    def join_group(self, tenant: Tenant, group_id: str, contact_ids: list[str]) -> list[dict[str, Any]]:
        """Add contacts to a group; ``KeyError`` for an unknown group or contact."""
        with self.lock:
            group = tenant.groups[group_id.lower()]
            joined = [tenant.contacts[c.lower()] for c in contact_ids]
            for contact in joined:
                if contact["ContactID"] not in group["contact_ids"]:
                    group["contact_ids"].append(contact["ContactID"])
                    contact["ContactGroups"] = [*contact["ContactGroups"], settings.group_summary(group)]
                    contact["UpdatedDateUTC"] = shapes.msdate()
            return joined

    def leave_group(self, tenant: Tenant, group_id: str, contact_id: str) -> None:
        with self.lock:
            group = tenant.groups[group_id.lower()]
            contact = tenant.contacts[contact_id.lower()]
            group["contact_ids"] = [c for c in group["contact_ids"] if c != contact["ContactID"]]
            contact["ContactGroups"] = [g for g in contact["ContactGroups"]
                                        if g["ContactGroupID"] != group["ContactGroupID"]]

    # -- idempotency ------------------------------------------------------------------------
    def stored_answer(self, tenant_id: str, key: str) -> StoredAnswer | None:
        with self.lock:
            found = self.answers.get((tenant_id, key))
            if found is None or time.monotonic() - found.stored_at > self.idempotency_window:
                return None
            self.replays += 1
            return found

    def store_answer(self, tenant_id: str, key: str, status: int, body: bytes) -> None:
        with self.lock:
            self.answers[(tenant_id, key)] = StoredAnswer(status, body, time.monotonic())

    def reset(self) -> None:
        """Forget contacts, stored answers and counted calls; tenants and tokens stay."""
        with self.lock:
            for tenant in self.tenants.values():
                tenant.contacts.clear()
                tenant.by_name.clear()
                tenant.by_number.clear()
                tenant.groups.clear()
            self.answers.clear()
            self.sequences.clear()
            self.replays = 0
        self.throttle.reset()
        self.webhooks.reset()
