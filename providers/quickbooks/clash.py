"""What a QuickBooks name clash (Fault 6240) collided with.

The Detail names only an Id (``The name supplied already exists. : Id=1067``, §B3), and names are
unique across Customer, Vendor and Employee, active or not. So the Id is read as each of those in
turn (the read endpoint, which sees inactive records too; ``Active IN (true,false)`` in a query is
unconfirmed) and accepted where the record carries the clashing name.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.errors import NameClash
from core.models import same_name

if TYPE_CHECKING:
    from providers.quickbooks.client import QuickBooksProvider

ENTITIES = ("Customer", "Vendor", "Employee")


def explain(provider: QuickBooksProvider, refusal: NameClash, name: str) -> NameClash:
    """A ``NameClash`` naming the clashing record's Id, type and whether it is active."""
    found = _identify(provider, refusal.existing_id, name) if refusal.existing_id else None
    existing_type = found[0] if found else None
    active = bool(found[1].get("Active", True)) if found else None
    return NameClash(
        str(refusal),
        existing_id=refusal.existing_id,
        existing_type=existing_type,
        existing_active=active,
        system=refusal.system,
        status=refusal.status,
        body=refusal.body,
        reason=_reason(existing_type, active, refusal.existing_id),
    )


def _identify(
    provider: QuickBooksProvider, record_id: str, name: str
) -> tuple[str, dict[str, Any]] | None:
    for entity in ENTITIES:
        record = provider.read(entity.lower(), record_id)
        if record is not None and same_name(str(record.get("DisplayName", "")), name):
            return entity, record
    return None


def _reason(existing_type: str | None, active: bool | None, existing_id: str | None) -> str:
    if existing_type == "Customer" and active:
        return f"a QuickBooks customer with this name already exists (Id {existing_id})"
    if existing_type == "Customer":
        return (
            f"an inactive QuickBooks customer already uses this name (Id {existing_id}); "
            "make it active or rename the organisation"
        )
    if existing_type:
        return (
            f"a QuickBooks {existing_type.lower()} already uses this name; QuickBooks names are "
            "unique across customers, vendors and employees, so rename one of them"
        )
    return f"QuickBooks says this name is already used (Id {existing_id or 'unknown'})"
