"""What changed in Sage: contacts read as they are, the changed-since queries of the ledger
poll (Sage has no webhooks), and batched reads for link verification.

- The poll: ``GET /contacts?updated_or_created_since=…`` and ``GET /contacts?deleted_since=…``
  (SG2; providers.md §4), paged by counting pages (no URL from an answer is fetched).
- Verification: Sage has no read by several ids (§C4), but a listing answers 200 contacts a
  page (§C1): the whole ledger paged is the fewest calls, where links cover most contacts.
- Reactivation: ``is_active`` is read-only (absent from ``putContacts``, §C2) and no archive
  field is writable: unconfirmed that any call restores a contact, so the safer path is taken:
  the link is flagged broken with the reason, never a write that may be silently ignored.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from core.ledger import ChangeSeen, ContactState, LedgerContact
from providers import stamps
from providers.sage import mapping
from providers.sage.client import SageProvider

#: Fields Sage gives back as written (its country is a code: ``country_code``).
COMPARED = ("name", "address_line1", "address_line2", "city", "region", "postcode",
            "country_code", "email", "phone", "mobile", "fax", "tax_number", "account_number")
CAN_REACTIVATE = False
#: Links verified per pass: all at once, since the listing pages the whole ledger anyway.
VERIFY_CHUNK = 1_000_000
_FULL = {"attributes": "all", "nested_attributes": "all"}


def read_contact(provider: SageProvider, contact_id: str) -> LedgerContact | None:
    if not provider.valid_contact_id(contact_id):
        return None
    response = provider._call("GET", f"/contacts/{contact_id}", params=_FULL, expect=(200, 404))
    return None if response.status_code == 404 else to_ledger(provider, response.json())


def read_contacts(provider: SageProvider, contact_ids: Iterable[str]) -> dict[str, LedgerContact]:
    """The linked contacts that still exist, from the paged listing of every contact."""
    wanted = {i.strip() for i in contact_ids if provider.valid_contact_id(i)}
    found: dict[str, LedgerContact] = {}
    for item in provider.pages({**_FULL, "contact_type_id": mapping.CUSTOMER}):
        if str(item.get("id")) in wanted:
            found[str(item["id"])] = to_ledger(provider, item)
    return found


def changed_since(provider: SageProvider, since: datetime) -> Iterator[tuple[ChangeSeen, LedgerContact | None]]:
    stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for item in provider.pages({**_FULL, "updated_or_created_since": stamp}):
        contact = to_ledger(provider, item)
        changed = stamps.iso(item.get("updated_at")) or since
        operation = "update" if contact.state == "active" else "archive"
        yield ChangeSeen(contact.id, changed, "poll", operation=operation), contact
    for item in provider.pages({**_FULL, "deleted_since": stamp}):
        # What a ``deleted_since`` listing carries is not documented beyond the parameter (SG2):
        # an item is taken as deleted only when it says so (``deleted_at``) or a read of it
        # finds nothing, never merely for being listed.
        contact_id = str(item["id"])
        found = None if item.get("deleted_at") else read_contact(provider, contact_id)
        if found is not None:
            continue
        changed = stamps.iso(item.get("deleted_at") or item.get("updated_at")) or since
        yield ChangeSeen(contact_id, changed, "poll", operation="delete"), None


def to_ledger(provider: SageProvider, item: dict[str, Any]) -> LedgerContact:
    contact = provider.to_contact(item)
    state: ContactState = "deleted" if item.get("deleted_at") else ("active" if contact.active else "archived")
    return LedgerContact(contact=contact, state=state, fields=mapping.to_fields(item),
                         updated_at=stamps.iso(item.get("updated_at")))
