"""The stand-in's memory: users, their businesses, each business's contacts, idempotency replays.

Thread-safe: every read and write of the maps happens under ``lock`` (an RLock, so a route can
hold it across a check-then-write such as the reference uniqueness rule).
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: Where the numeric ids of the web app's contact pages start (the public example is 130175300).
FIRST_NUMERIC_ID = 130175300


def new_id() -> str:
    """A Sage id: 32 lowercase hex digits (providers.md §C2)."""
    return secrets.token_hex(16)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Business:
    id: str
    name: str
    owner: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class SageState:
    """Everything the stand-in holds. ``users`` maps a user id to its business ids, lead first
    ("the lead business is defined as the first business the user created", Sage multi-business
    guide)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    users: dict[str, list[str]] = field(default_factory=dict)
    businesses: dict[str, Business] = field(default_factory=dict)
    #: business id -> contact id -> internal record (see ``sandbox.sage.contacts``)
    contacts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: business id -> contact id -> the record as it was, with ``deleted_at`` (``deleted_since``)
    deleted: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: (business id, idempotency_id) -> (status, JSON body) of the first successful answer
    replays: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    next_numeric_id: int = FIRST_NUMERIC_ID
    #: The user who "signs in" at the auto-consenting authorize page (made on first use).
    default_user: str | None = None

    def reset(self) -> None:
        with self.lock:
            self.users.clear()
            self.businesses.clear()
            self.contacts.clear()
            self.deleted.clear()
            self.replays.clear()
            self.next_numeric_id = FIRST_NUMERIC_ID
            self.default_user = None

    # -- users and businesses -------------------------------------------------------------
    def new_user(self, business_id: str | None = None) -> str:
        """A user with one (lead) business; ``business_id`` names it when given."""
        with self.lock:
            user_id = new_id()
            self.users[user_id] = []
            self.add_business(user_id, business_id)
            return user_id

    def add_business(self, user_id: str, business_id: str | None = None) -> str:
        with self.lock:
            business_id = business_id or new_id()
            number = len(self.businesses) + 1
            self.businesses[business_id] = Business(business_id, f"Business {number}", user_id)
            self.users[user_id].append(business_id)
            self.contacts.setdefault(business_id, {})
            return business_id

    def owner_of(self, business_id: str) -> str | None:
        with self.lock:
            business = self.businesses.get(business_id)
            return business.owner if business else None

    def lead_business(self, user_id: str) -> str | None:
        with self.lock:
            owned = self.users.get(user_id) or []
            return owned[0] if owned else None

    def business_for(self, user_id: str, requested: str | None) -> str | None:
        """The business a call addresses: ``X-Business`` when the user has it, the lead business
        when the header is absent, ``None`` when the user has no such business."""
        with self.lock:
            if not requested:
                return self.lead_business(user_id)
            return requested if requested in (self.users.get(user_id) or []) else None

    # -- contacts -------------------------------------------------------------------------
    def contacts_of(self, business_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return self.contacts.setdefault(business_id, {})

    def deleted_of(self, business_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return self.deleted.setdefault(business_id, {})

    def delete(self, business_id: str, contact_id: str) -> dict[str, Any] | None:
        """Remove a contact (API ``DELETE`` or a person in the web app); it is then listed by
        ``deleted_since``. ``None`` when there is no such contact."""
        with self.lock:
            record = self.contacts_of(business_id).pop(contact_id, None)
            if record is None:
                return None
            # ``deleted_at`` shows whole seconds; the exact moment is kept for ``deleted_since``
            # (not inclusive), so that a deletion in the asked second itself is not lost.
            record = {**record, "deleted_at": now_iso(), "deleted_moment": time.time(),
                      "is_active": False}
            self.deleted_of(business_id)[contact_id] = record
            return record

    def take_numeric_id(self) -> int:
        with self.lock:
            self.next_numeric_id += 1
            return self.next_numeric_id

    def contact_count(self) -> int:
        with self.lock:
            return sum(len(contacts) for contacts in self.contacts.values())
