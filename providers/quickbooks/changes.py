"""What changed in QuickBooks Online: customers read as they are (inactive ones too), Change
Data Capture for the ledger poll, batched reads for link verification, and reactivation.

- A QuickBooks "delete" of a customer makes it inactive (``Active: false``); ``GET
  customer/{Id}`` still answers it (§B1). A merged-away customer is gone (Fault 610).
- The poll: ``GET cdc?entities=Customer&changedSince=`` looks back at most 30 days; deletions
  come back as ``status: Deleted`` (providers.md §4, QC1). Older than that: a full check of the
  linked customers (the worker's ``full_check``).
- Verification: ``select * from Customer where Id IN (…)`` answers active customers only
  (§B1); the few linked ids it leaves out are read one by one, inactive ones included.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

from core.ledger import ChangeSeen, LedgerContact
from core.models import Contact
from providers.quickbooks import mapping
from providers.quickbooks.client import QuickBooksProvider, _answer, _params

#: Fields QuickBooks gives back as written. Not the tax number (answered masked, §B2) and no
#: account number (Customer has none, §B2); the country is stored as sent but may come back
#: as an ISO-3 code (§B2, Oct 2025), so it is not compared either.
COMPARED = ("name", "address_line1", "address_line2", "city", "region", "postcode",
            "email", "phone", "mobile", "fax")
#: An inactive customer is made active again by a sparse update ``Active: true`` (B1).
CAN_REACTIVATE = True
#: Change Data Capture looks back at most 30 days (QC1); a little less, for clock skew.
CDC_WINDOW = timedelta(days=30) - timedelta(minutes=5)


def read_contact(provider: QuickBooksProvider, contact_id: str) -> LedgerContact | None:
    if not provider.valid_contact_id(contact_id):
        return None
    customer = provider.read("customer", contact_id.strip())
    return to_ledger(provider, customer) if customer else None


def read_contacts(provider: QuickBooksProvider, contact_ids: Iterable[str]) -> dict[str, LedgerContact]:
    ids = {i.strip() for i in contact_ids if provider.valid_contact_id(i)}
    found = {str(row["Id"]): to_ledger(provider, row) for row in provider.customer_rows(ids)}
    for missing in sorted(ids - set(found), key=int):  # inactive (or gone): read one by one
        contact = read_contact(provider, missing)
        if contact is not None:
            found[missing] = contact
    return found


def within_window(since: datetime, now: datetime | None = None) -> bool:
    return (now or datetime.now(timezone.utc)) - since < CDC_WINDOW


def changed_since(provider: QuickBooksProvider, since: datetime) -> Iterator[tuple[ChangeSeen, LedgerContact | None]]:
    """Customers changed since ``since`` by Change Data Capture (within its 30 days)."""
    stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = provider.api.request("GET", "cdc", params=_params(entities="Customer", changedSince=stamp))
    for row in _cdc_rows(_answer(response)):
        changed = mapping.last_updated(row) or since
        if str(row.get("status", "")).lower() == "deleted":
            yield ChangeSeen(str(row["Id"]), changed, "poll", operation="delete"), None
            continue
        contact = to_ledger(provider, row)
        operation = "update" if contact.state == "active" else "delete"
        yield ChangeSeen(contact.id, changed, "poll", operation=operation), contact


def _cdc_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for block in body.get("CDCResponse") or []:
        for response in block.get("QueryResponse") or []:
            rows += response.get("Customer") or []
    return rows


def reactivate(provider: QuickBooksProvider, contact_id: str) -> Contact:
    """A sparse update with ``Active: true`` and the current SyncToken (§B1: ``Active`` is the
    customer's status; a "deleted" customer is an inactive one)."""
    customer = provider.read("customer", contact_id) or {}
    payload = {"Id": contact_id, "SyncToken": str(customer.get("SyncToken", "0")),
               "sparse": True, "Active": True}
    answer = provider.post("customer", payload, scope=f"reactivate:{contact_id}")
    return provider.to_contact(answer["Customer"])


def to_ledger(provider: QuickBooksProvider, row: dict[str, Any]) -> LedgerContact:
    contact = provider.to_contact(row)  # its ``updated_at``: ``MetaData.LastUpdatedTime``
    return LedgerContact(
        contact=contact, state="active" if row.get("Active", True) else "deleted",
        fields=mapping.to_fields(row), updated_at=contact.updated_at,
    )
