"""The shared vocabulary: organisations, contact fields, contacts, policies, outcomes.

Plain frozen dataclasses, no I/O. Web, workers and providers all speak these.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

EventKind = Literal["create", "update"]
OutcomeAction = Literal["created", "updated", "linked", "none"]


class EventStatus(StrEnum):
    """Where an event stands (interface §6). Stored and answered as its value."""

    QUEUED = "queued"
    PROCESSING = "processing"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"

    @classmethod
    def owed(cls) -> tuple[EventStatus, ...]:
        """Waiting for a worker: sent (again) by the outbox relay."""
        return (cls.QUEUED, cls.RETRYING)

    @classmethod
    def final(cls) -> tuple[EventStatus, ...]:
        """Settled: only a replay moves it again."""
        return (cls.SUCCEEDED, cls.SKIPPED, cls.FAILED)


class IntegrationStatus(StrEnum):
    """interface §3: ``disabled`` is set by the administrator, ``reconnect_needed`` by the
    service when a refresh token or API key is refused."""

    ACTIVE = "active"
    DISABLED = "disabled"
    RECONNECT_NEEDED = "reconnect_needed"


class JobStatus(StrEnum):
    """Where a bulk job stands (interface §7)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def unfinished(cls) -> tuple[JobStatus, ...]:
        return (cls.QUEUED, cls.RUNNING)

    @classmethod
    def finished(cls) -> tuple[JobStatus, ...]:
        return (cls.SUCCEEDED, cls.FAILED, cls.CANCELLED)


@dataclass(frozen=True)
class ContactFields:
    """The mapped fields of an organisation, provider-neutral (interface §5).

    An empty string means "empty in the organisation": the provider clears that
    field in the contact. The account number is the exception: it is never sent empty.
    """

    name: str
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postcode: str = ""
    country: str = ""  #: country name, as Current RMS shows it ("New Zealand")
    country_code: str = ""  #: ISO 3166-1 alpha-2 ("NZ"); Sage wants the code
    email: str = ""
    phone: str = ""
    mobile: str = ""
    fax: str = ""
    tax_number: str = ""
    account_number: str = ""

    def digest(self) -> str:
        """A stable hash of every mapped field: equal digests mean nothing to write."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactFields:
        known = {f.name for f in fields(cls)}
        return cls(**{k: str(v or "") for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Organisation:
    """A Current RMS member as the sync sees it."""

    id: int
    name: str
    membership_type: str
    active: bool
    fields: ContactFields
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""

    @property
    def is_organisation(self) -> bool:
        return self.membership_type == "Organisation"

    def custom_field(self, key: str | None) -> str:
        if not key:
            return ""
        value = self.custom_fields.get(key)
        return str(value).strip() if value not in (None, False) else ""


@dataclass(frozen=True)
class Contact:
    """A customer record in an accounting system, as read back from it."""

    id: str
    name: str
    email: str = ""
    active: bool = True
    url: str | None = None
    #: Xero: the contact this one was merged into (the link follows it).
    merged_to: str | None = None
    #: QuickBooks: the SyncToken needed for the next update.
    version: str | None = None
    #: QuickBooks names are unique across Customer, Vendor and Employee: which one this is.
    entity_type: str = "Customer"
    #: The system's own stamp of this state of the contact (Xero ``UpdatedDateUTC``, QuickBooks
    #: ``MetaData.LastUpdatedTime``, Sage ``updated_at``), when the answer carried it: stored on
    #: the link after our write, so that the webhook of that write is known without a read.
    #: Not part of a contact's equality: two reads of one contact are the same contact.
    updated_at: datetime | None = field(default=None, compare=False)

    def to_summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, "url": self.url}


def same_name(a: str, b: str) -> bool:
    """Names compare as the accounting systems' uniqueness rules do: trimmed, case-insensitive."""
    return a.strip().casefold() == b.strip().casefold()


@dataclass(frozen=True)
class Policies:
    """An integration's policies (interface §3); every key optional, defaults as documented."""

    create_contact_on_create: bool = True
    update_contact_on_edit: bool = True
    create_contact_on_edit_if_unlinked: bool = False
    link_existing_by_name: bool = True
    linked_contact_field: str | None = "linked_contact"
    write_link_to_field: str | None = None
    #: interface §10: ``flag``, ``reactivate`` or ``recreate`` (``core.ledger``).
    on_contact_archived: str = "flag"
    #: interface §11: the ordered keys that match an organisation to a contact.
    match_on: tuple[str, ...] = ("name",)
    #: interface §11: ``fail`` or ``suffix`` (``core.name_clash``).
    on_name_clash: str = "fail"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Policies:
        # Read through the modules that own these keys' rules (unknown keys dropped).
        from core.matching import match_on_of
        from core.name_clash import on_name_clash_of

        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in (data or {}).items() if k in known}
        given["match_on"] = tuple(match_on_of(data))
        given["on_name_clash"] = on_name_clash_of(data)
        return cls(**given)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "match_on": list(self.match_on)}


@dataclass(frozen=True)
class Outcome:
    """What a sync did, recorded on its event (interface §5)."""

    action: OutcomeAction | None
    contact_id: str | None = None
    overwritten: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
