"""What changed in Xero: contacts read as they are (archived and merged ones too), the
changed-since query of the ledger poll, batched reads for link verification, and reactivation.

- ``GET /Contacts/{id}`` answers archived contacts and carries ``MergedToContactID`` (A2, XM1).
- The poll: ``GET /Contacts`` with ``If-Modified-Since`` and ``includeArchived=true``, paged (a
  paged read carries ``MergedToContactID``), oldest change first (providers.md §4, XD1).
- Verification: ``IDs=`` in chunks of 50 (more than ~52 GUIDs gave 404, A4).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from core.ledger import ChangeSeen, LedgerContact
from core.models import Contact
from providers.xero import mapping
from providers.xero.client import PAGE_SIZE, XeroProvider, _merged_to

#: Fields Xero gives back as written (``mapping.fields_from``): compared to find hand edits.
COMPARED = ("name", "address_line1", "address_line2", "city", "region", "postcode", "country",
            "email", "phone", "mobile", "fax", "tax_number", "account_number")
#: An archived Xero contact can be restored (``ContactStatus`` ``ACTIVE``, below).
CAN_REACTIVATE = True


def read_contact(provider: XeroProvider, contact_id: str) -> LedgerContact | None:
    """The contact as it is, archived or merged; ``None`` when Xero has no such contact."""
    if not provider.valid_contact_id(contact_id):
        return None
    response = provider.api.request("GET", f"Contacts/{contact_id.strip()}", expect=(200, 404))
    rows = response.json().get("Contacts") if response.status_code == 200 else None
    return to_ledger(provider, rows[0]) if rows else None


def read_contacts(provider: XeroProvider, contact_ids: Iterable[str]) -> dict[str, LedgerContact]:
    """Every contact among ``contact_ids`` that exists, 50 per ``IDs=`` call (A4)."""
    return {asked: to_ledger(provider, row) for asked, row in provider.rows_by_id(contact_ids) if row is not None}


def changed_since(provider: XeroProvider, since: datetime) -> Iterator[tuple[ChangeSeen, LedgerContact]]:
    """Contacts modified at or after ``since``, archived ones included, oldest first."""
    header = {"If-Modified-Since": since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")}
    page = 1
    while True:
        params = {"includeArchived": "true", "order": "UpdatedDateUTC ASC", "page": page}
        payload = provider.api.request("GET", "Contacts", params=params, headers=header).json()
        rows = payload.get("Contacts") or []
        for row in rows:
            contact = to_ledger(provider, row)
            yield ChangeSeen(contact.id, contact.updated_at or since, "poll",
                             operation=_operation(contact), merged_into=contact.merged_to), contact
        page_count = (payload.get("pagination") or {}).get("pageCount")
        if len(rows) < PAGE_SIZE or (page_count is not None and page >= page_count):
            return
        page += 1


def reactivate(provider: XeroProvider, contact_id: str) -> Contact:
    """Restore an archived contact: Xero archives by ``ContactStatus`` ``ARCHIVED`` (A2) and
    the same field set to ``ACTIVE`` restores it. Only that field is sent, so nothing else of
    the contact is touched."""
    body = mapping.contacts_body([{"ContactID": contact_id, "ContactStatus": "ACTIVE"}])
    response = provider.api.request(
        "POST", f"Contacts/{contact_id}", params={"summarizeErrors": "false"}, data=body,
        headers={"Content-Type": "application/json"})
    element = (response.json().get("Contacts") or [{}])[0]
    return provider._element_contact(element)


def to_ledger(provider: XeroProvider, row: dict[str, Any]) -> LedgerContact:
    status = row.get("ContactStatus")
    contact = provider._contact(row)  # its ``updated_at``: ``UpdatedDateUTC``
    return LedgerContact(
        contact=contact, state="active" if status == "ACTIVE" else "archived",
        fields=mapping.fields_from(row), merged_to=_merged_to(row), updated_at=contact.updated_at,
    )


def _operation(contact: LedgerContact) -> str:
    if contact.merged_to:
        return "merge"
    return "update" if contact.state == "active" else "archive"
