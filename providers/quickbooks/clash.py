"""What a QuickBooks name clash (Fault 6240) collided with.

The Detail names only an Id (``The name supplied already exists. : Id=1067``, §B3), and names are
unique across Customer, Vendor and Employee, active or not. So the Id is read as each of those in
turn (the read endpoint, which sees inactive records too; ``Active IN (true,false)`` in a query is
unconfirmed) and accepted where the record carries the clashing name.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.errors import Holder, NameClash
from core.link_wording import taken
from core.models import Contact, same_name

if TYPE_CHECKING:
    from providers.quickbooks.client import QuickBooksProvider

ENTITIES = ("Customer", "Vendor", "Employee")
SYSTEM_WORD = "QuickBooks"


def explain(provider: QuickBooksProvider, refusal: NameClash, name: str) -> NameClash:
    """A ``NameClash`` naming the clashing record: its Id, type, whether it is active, and (as
    its ``holder``) its name and, for a customer, its web link (issue 16)."""
    found = _identify(provider, refusal.existing_id, name) if refusal.existing_id else None
    existing_type = found[0] if found else None
    active = bool(found[1].get("Active", True)) if found else None
    holder = _holder(provider, *found) if found else None
    return NameClash(
        str(refusal),
        existing_id=refusal.existing_id,
        existing_type=existing_type,
        holder=holder,
        existing_active=active,
        system=refusal.system,
        status=refusal.status,
        body=refusal.body,
        reason=_reason(name, holder, refusal.existing_id),
    )


def _identify(
    provider: QuickBooksProvider, record_id: str, name: str
) -> tuple[str, dict[str, Any]] | None:
    for entity in ENTITIES:
        record = provider.read(entity.lower(), record_id)
        if record is not None and same_name(str(record.get("DisplayName", "")), name):
            return entity, record
    return None


def _holder(provider: QuickBooksProvider, entity: str, record: dict[str, Any]) -> Holder:
    """Only a customer has a web link the providers' documents give (§B7); a vendor or an
    employee is named with its Id."""
    url = provider.web_link(Contact(id=str(record["Id"]), name="")) if entity == "Customer" else None
    return Holder(id=str(record["Id"]), name=str(record.get("DisplayName", "")), url=url,
                  noun=entity.lower(), active=bool(record.get("Active", True)))


def _reason(name: str, holder: Holder | None, existing_id: str | None) -> str:
    if holder is None:
        return f"QuickBooks refused: the name '{name}' is already used (Id {existing_id or 'unknown'})"
    said = taken(SYSTEM_WORD, "name", name, holder)
    if holder.noun == "customer" and holder.active:
        return said
    if holder.noun == "customer":
        return f"{said}; make it active or rename the organisation"
    return (f"{said}; QuickBooks names are unique across customers, vendors and employees, so "
            "rename one of them")
