"""Member records in Current RMS's read shape, built and edited from write bodies.

The read shape is ``tests/fixtures/member_organisation.json``: every stored member has
exactly those keys. Write bodies are accepted in two forms, since the real API's rules for
nested records are not documented (the Current RMS API documentation §2.2, "One third-party PUT sends
``primary_address_attributes``"; the Zapier create body sends plain ``emails``):

- ``<name>_attributes`` (Rails nested attributes): an item with an ``id`` updates that record,
  or removes it with ``"_destroy": true``; an item without one is added;
- the plain read-shape key (``emails``, ``phones``, ``links``, ``primary_address``): replaces the
  whole list or object (ids kept where given), which is also how seeds are written.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

NextId = Callable[[str], int]


class Unprocessable(ValueError):
    """Raised when a request breaks a validation rule; its messages become a 422."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


#: Values of ``membership_type`` (reference §2.3, British spelling in the API).
MEMBERSHIP_TYPES = ("Organisation", "Contact", "Venue", "User", "Vehicle")
#: List-of-values ids (reference §2.3). 6003 Fax is an assumption (samples/README).
EMAIL_TYPES = {4001: "Work", 4002: "Home"}
PHONE_TYPES = {6001: "Work", 6002: "Mobile", 6003: "Fax", 6005: "Home"}
LINK_TYPES = {5001: "Website"}
PRIMARY_ADDRESS_TYPE = (3001, "Primary")
#: Countries the stand-in knows. NZ 16700 is from the reference sample; the other ids are made
#: up in the same pattern. An unknown country name is stored as no country.
COUNTRIES = {
    16700: ("NZ", "New Zealand", "NZD", False),
    1300: ("AU", "Australia", "AUD", False),
    23300: ("GB", "United Kingdom", "GBP", False),
    23400: ("US", "United States", "USD", False),
    3800: ("CA", "Canada", "CAD", False),
    10500: ("IE", "Ireland", "EUR", True),
    8100: ("DE", "Germany", "EUR", True),
    7500: ("FR", "France", "EUR", True),
    15500: ("NL", "Netherlands", "EUR", True),
    20300: ("ZA", "South Africa", "ZAR", False),
    19800: ("SG", "Singapore", "SGD", False),
    23200: ("AE", "United Arab Emirates", "AED", False),
}
_LISTS = {"emails": ("address", EMAIL_TYPES, "email_type_name"),
          "phones": ("number", PHONE_TYPES, "phone_type_name"),
          "links": ("address", LINK_TYPES, "link_type_name")}
_SCALARS = ("name", "description", "active", "bookable", "locale", "location_type",
            "membership_type", "tag_list")
_ADDRESS_FIELDS = ("name", "street", "city", "county", "postcode")


def blank_member(*, member_id: int, membership_id: int, now: str) -> dict[str, Any]:
    """A member with every key of the sample and nothing filled in."""
    return {
        "id": member_id, "uuid": str(uuid.uuid4()), "name": "", "description": "",
        "active": True, "bookable": False, "location_type": 1, "locale": "en-GB",
        "membership_type": "Organisation", "membership_id": membership_id,
        "membership": {
            "id": membership_id, "number": "", "tax_number": "", "tax_class_id": 1,
            "owned_by": 1, "rating": 0, "cash": False, "on_stop": False,
            "invoice_term": None, "invoice_term_length": 0,
        },
        "primary_address": None, "addresses": [], "emails": [], "phones": [], "links": [],
        "tag_list": [], "custom_fields": {}, "child_members": [], "parent_members": [],
        "created_at": now, "updated_at": now,
    }


def validate(member: dict[str, Any]) -> None:
    """The rules the API enforces on a stored member: a name and a known membership type."""
    errors = []
    if not str(member.get("name") or "").strip():
        errors.append("Name can't be blank")
    if member.get("membership_type") not in MEMBERSHIP_TYPES:
        errors.append("Membership type is not included in the list")
    if errors:
        raise Unprocessable(errors)


def apply_changes(member: dict[str, Any], attrs: dict[str, Any], *, next_id: NextId,
                  now: str) -> None:
    """Apply a write body to ``member`` in place and bump ``updated_at``."""
    for key in _SCALARS:
        if key in attrs:
            member[key] = attrs[key]
    if isinstance(attrs.get("custom_fields"), dict):
        member["custom_fields"] = {**member["custom_fields"], **attrs["custom_fields"]}
    for key in ("membership", "membership_attributes"):
        if isinstance(attrs.get(key), dict):
            _merge_membership(member["membership"], attrs[key])
    if "primary_address" in attrs:
        replacement = attrs["primary_address"]
        member["primary_address"] = _address({}, replacement, next_id, now)
        if isinstance(replacement, dict) and member["primary_address"]:  # a seed keeps its times
            for key in ("created_at", "updated_at"):
                member["primary_address"][key] = replacement.get(key) or now
    if "primary_address_attributes" in attrs:
        _nested_address(member, attrs["primary_address_attributes"], next_id, now)
    for key in _LISTS:
        if key in attrs:
            member[key] = [_list_item(key, {}, item, next_id) for item in _items(attrs[key])]
        if f"{key}_attributes" in attrs:
            _nested_list(member, key, attrs[f"{key}_attributes"], next_id)
    member["updated_at"] = now


def _merge_membership(membership: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if key in membership and key != "id":
            membership[key] = str(value or "") if key in ("number", "tax_number") else value


def _nested_address(member: dict[str, Any], changes: Any, next_id: NextId, now: str) -> None:
    if not isinstance(changes, dict):
        return
    if _truthy(changes.get("_destroy")):
        member["primary_address"] = None
        return
    # Merged into the existing address whatever the id says (has_one, update_only).
    member["primary_address"] = _address(member["primary_address"] or {}, changes, next_id, now)


def _address(current: dict[str, Any], changes: Any, next_id: NextId, now: str) -> dict | None:
    if not isinstance(changes, dict):
        return None
    address = {
        "id": current.get("id") or changes.get("id") or next_id("record"),
        **{key: current.get(key, "") for key in _ADDRESS_FIELDS},
        "country_id": current.get("country_id"), "country_name": current.get("country_name", ""),
        "country": current.get("country"),
        "type_id": PRIMARY_ADDRESS_TYPE[0], "address_type_name": PRIMARY_ADDRESS_TYPE[1],
        "created_at": current.get("created_at") or now, "updated_at": now,
    }
    for key in _ADDRESS_FIELDS:
        if key in changes:
            address[key] = "" if changes[key] is None else str(changes[key])
    if "country_id" in changes or "country_name" in changes or "country" in changes:
        address.update(_country(changes))
    return address


def _country(changes: dict[str, Any]) -> dict[str, Any]:
    """Resolve the country by id, else by name (case-insensitive); unknown -> no country."""
    wanted = changes.get("country_id")
    if wanted is None and isinstance(changes.get("country"), dict):
        wanted = changes["country"].get("id")
    name = str(changes.get("country_name") or "").strip().casefold()
    for country_id, (code, title, currency, eu) in COUNTRIES.items():
        if country_id == wanted or (wanted is None and name and title.casefold() == name):
            country = {"id": country_id, "code": code, "name": title,
                       "currency_code": currency, "eu_member": eu}
            return {"country_id": country_id, "country_name": title, "country": country}
    return {"country_id": None, "country_name": "", "country": None}


def _nested_list(member: dict[str, Any], key: str, changes: Any, next_id: NextId) -> None:
    records = member[key]
    for item in _items(changes):
        if item.get("id") is None:
            records.append(_list_item(key, {}, item, next_id))
            continue
        index = next((i for i, r in enumerate(records) if r["id"] == item["id"]), None)
        if index is None:
            noun = key[:-1].capitalize()
            raise Unprocessable([f"Couldn't find {noun} with ID={item['id']}"])
        if _truthy(item.get("_destroy")):
            del records[index]
        else:
            records[index] = _list_item(key, records[index], item, next_id)


def _list_item(key: str, current: dict[str, Any], changes: dict[str, Any],
               next_id: NextId) -> dict[str, Any]:
    value_key, types, name_key = _LISTS[key]
    type_id = changes.get("type_id", current.get("type_id"))
    if "type_id" not in changes and changes.get(name_key):
        by_name = {name.casefold(): tid for tid, name in types.items()}
        type_id = by_name.get(str(changes[name_key]).casefold(), type_id)
    if type_id not in types:
        type_id = next(iter(types))  # the "Work"/"Website" default of the list
    return {
        "id": current.get("id") or changes.get("id") or next_id("record"),
        value_key: str(changes.get(value_key, current.get(value_key, "")) or ""),
        "type_id": type_id, name_key: types[type_id],
    }


def _items(value: Any) -> list[dict[str, Any]]:
    """Rails accepts nested lists as arrays or as ``{"0": {...}, "1": {...}}`` hashes."""
    if isinstance(value, dict):
        value = list(value.values())
    return [item for item in (value or []) if isinstance(item, dict)]


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")
