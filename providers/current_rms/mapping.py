"""Current RMS member JSON <-> the shared models: THE mapping of interface §5.

Reading (``organisation_from_member``), organisation -> ``ContactFields``:

==================  ============================================================================
ContactFields       member JSON (tests/fixtures/member_organisation.json)
==================  ============================================================================
name                ``name``
address_line1       ``primary_address.street``, first non-blank line
address_line2       the other non-blank lines of ``street``, joined with ", "
city                ``primary_address.city``
region              ``primary_address.county``
postcode            ``primary_address.postcode``
country             ``primary_address.country.name``, else ``primary_address.country_name``
country_code        ``primary_address.country.code`` (upper case)
email               first non-blank ``emails[]`` of type Work (``type_id`` 4001 or name "Work")
phone               first non-blank ``phones[]`` of type Work (6001 or "Work")
mobile              first non-blank ``phones[]`` of type Mobile (6002, or "Mobile" / "Cell")
fax                 first non-blank ``phones[]`` of type Fax (6003, or "Fax"; 6003 is assumed,
                    samples/README)
tax_number          ``membership.tax_number``
account_number      ``membership.number``
==================  ============================================================================

Every value is stripped; a missing or null object anywhere reads as empty, so a webhook for a
Contact-type member (or a half-filled organisation) maps without raising.

Writing (``member_body``, bulk import: contact -> organisation) is the reverse, in the nested
attributes form that one third-party client sends on ``PUT`` (reference §2.2):

==================  ============================================================================
ContactFields       member write body (``{"member": {...}}``)
==================  ============================================================================
name                ``name``
address_line1/2     ``primary_address_attributes.street``, the lines joined with a new line
city                ``primary_address_attributes.city``
region              ``primary_address_attributes.county``
postcode            ``primary_address_attributes.postcode``
country             ``primary_address_attributes.country_name`` (unconfirmed that the API
                    resolves a name; ``country_code`` is not written, Current RMS derives it)
email               ``emails_attributes[]`` ``{"address", "type_id": 4001}``
phone / mobile /    ``phones_attributes[]`` ``{"number", "type_id": 6001 / 6002 / 6003}``
fax
tax_number          ``membership_attributes.tax_number``
account_number      ``membership_attributes.number``, only when not empty (never cleared)
(custom fields)     ``custom_fields``, merged into the member's by the API
==================  ============================================================================

On an update the existing record's ``id`` is sent (the member is read first), so the Work
email and each phone are changed in place; an empty field removes that record
(``"_destroy": true``), as §5 clears an empty field on the other side. A create also sends
``membership_type: "Organisation"``.
"""
from __future__ import annotations

from typing import Any

from core.models import ContactFields, Organisation

#: A typed record's kind: its list-of-values ``type_id`` and the type names that also mean it.
RecordKind = tuple[int, tuple[str, ...]]

#: List-of-values ids (reference §2.3); FAX is an assumption (samples/README).
WORK_EMAIL: RecordKind = (4001, ("work",))
WORK_PHONE: RecordKind = (6001, ("work",))
MOBILE_PHONE: RecordKind = (6002, ("mobile", "cell"))
FAX_PHONE: RecordKind = (6003, ("fax",))
ORGANISATION = "Organisation"


def organisation_from_member(member: dict[str, Any]) -> Organisation:
    """The ``Organisation`` for any member JSON (``is_organisation`` tells the type)."""
    membership_type = _text(member.get("membership_type"))
    return Organisation(
        id=int(member["id"]),
        name=_text(member.get("name")),
        membership_type=membership_type,
        # Absent "active" reads as active: the API always sends it (sample), and "inactive"
        # would make the sync skip an organisation it should handle.
        active=member.get("active") is not False,
        fields=contact_fields(member),
        custom_fields=_dict(member.get("custom_fields")),
        created_at=_text(member.get("created_at")),
        updated_at=_text(member.get("updated_at")),
    )


def contact_fields(member: dict[str, Any]) -> ContactFields:
    address = _dict(member.get("primary_address"))
    country = _dict(address.get("country"))
    line1, line2 = split_street(_text(address.get("street")))
    membership = _dict(member.get("membership"))
    phones = _list(member.get("phones"))
    return ContactFields(
        name=_text(member.get("name")),
        address_line1=line1, address_line2=line2,
        city=_text(address.get("city")), region=_text(address.get("county")),
        postcode=_text(address.get("postcode")),
        country=_text(country.get("name")) or _text(address.get("country_name")),
        country_code=_text(country.get("code")).upper(),
        email=_first(_list(member.get("emails")), WORK_EMAIL, "address", "email_type_name"),
        phone=_first(phones, WORK_PHONE, "number", "phone_type_name"),
        mobile=_first(phones, MOBILE_PHONE, "number", "phone_type_name"),
        fax=_first(phones, FAX_PHONE, "number", "phone_type_name"),
        tax_number=_text(membership.get("tax_number")),
        account_number=_text(membership.get("number")),
    )


def split_street(street: str) -> tuple[str, str]:
    """Line 1 and line 2 of a street: its first line, and the rest joined with ", "."""
    lines = [line.strip() for line in street.splitlines() if line.strip()]
    return (lines[0] if lines else ""), ", ".join(lines[1:])


def member_body(fields: ContactFields, *, custom_fields: dict[str, Any] | None = None,
                existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``{"member": {...}}`` body that writes ``fields`` (see the second table above).

    ``existing`` is the member as read before an update (None for a create)."""
    current = existing or {}
    member: dict[str, Any] = {
        "name": fields.name.strip(),
        "primary_address_attributes": _address_attributes(fields, current),
        "emails_attributes": _records(
            _list(current.get("emails")), [(WORK_EMAIL, fields.email)],
            "address", "email_type_name"),
        "phones_attributes": _records(
            _list(current.get("phones")),
            [(WORK_PHONE, fields.phone), (MOBILE_PHONE, fields.mobile), (FAX_PHONE, fields.fax)],
            "number", "phone_type_name"),
        "membership_attributes": _membership_attributes(fields, current),
    }
    if existing is None:
        member["membership_type"] = ORGANISATION
    if custom_fields:
        member["custom_fields"] = dict(custom_fields)
    return {"member": member}


def _address_attributes(fields: ContactFields, current: dict[str, Any]) -> dict[str, Any]:
    street = "\n".join(line for line in (fields.address_line1, fields.address_line2) if line)
    attributes = {"street": street.strip(), "city": fields.city.strip(),
                  "county": fields.region.strip(), "postcode": fields.postcode.strip(),
                  "country_name": fields.country.strip()}
    address_id = _dict(current.get("primary_address")).get("id")
    return {"id": address_id, **attributes} if address_id else attributes


def _membership_attributes(fields: ContactFields, current: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"tax_number": fields.tax_number.strip()}
    if fields.account_number.strip():  # interface §5: the account number is never sent empty
        attributes["number"] = fields.account_number.strip()
    membership_id = _dict(current.get("membership")).get("id")
    return {"id": membership_id, **attributes} if membership_id else attributes


def _records(current: list[dict[str, Any]], wanted: list[tuple[RecordKind, str]],
             value_key: str, name_key: str) -> list[dict[str, Any]]:
    """Nested attributes for typed records: change the first of each type in place, add it
    when there is none, remove it when the field is empty."""
    changes = []
    for kind, value in wanted:
        of_kind = [r for r in current if isinstance(r, dict) and _is_kind(r, kind, name_key)]
        # The record the reader maps: the first non-blank one of the type, else the first.
        record = next((r for r in of_kind if _text(r.get(value_key))), None) or next(
            iter(of_kind), None)
        if record is not None and record.get("id") is not None:
            change = {"id": record["id"], value_key: value.strip(), "type_id": kind[0]}
            changes.append(change if value.strip() else {"id": record["id"], "_destroy": True})
        elif value.strip():
            changes.append({value_key: value.strip(), "type_id": kind[0]})
    return changes


def _first(records: list[Any], kind: RecordKind, value_key: str, name_key: str) -> str:
    for record in records:
        if isinstance(record, dict) and _is_kind(record, kind, name_key):
            value = _text(record.get(value_key))
            if value:
                return value
    return ""


def _is_kind(record: dict[str, Any], kind: RecordKind, name_key: str) -> bool:
    type_id, names = kind
    return str(record.get("type_id")) == str(type_id) or _text(record.get(name_key)).casefold() in names


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
