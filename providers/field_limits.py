"""What each accounting system refuses for its length or form, checked before a write.

A value the system would refuse is never truncated silently (CONTRACT §11): ``refusal`` names
the field and the limit, and the sync fails with that reason. The one documented mapping rule
is QuickBooks' ``CompanyName``, which carries the first 100 characters of the name (README).

Limits come from the official specs in ``tests/specs`` (Xero ``Contact``, ``Address``,
``Phone``; Sage v3.1 ``Contact``, ``Address``, ``ContactPerson``) and, for QuickBooks, which
publishes no spec, from the Intuit Customer entity page (reference §B2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.models import ContactFields


@dataclass(frozen=True)
class Limit:
    #: The system's own field name, as the reason shows it.
    target: str
    max_length: int | None = None
    #: A regular expression the whole value must match, and what it means in words.
    pattern: str | None = None
    form: str = ""


#: ContactFields attribute -> the target's limit, per ``provider.kind``.
LIMITS: dict[str, dict[str, Limit]] = {
    "xero": {
        "name": Limit("Contact.Name", 255),
        "account_number": Limit("Contact.AccountNumber", 50),
        "tax_number": Limit("Contact.TaxNumber", 50),
        "email": Limit("Contact.EmailAddress", 255),
        "address_line1": Limit("Address.AddressLine1", 500),
        "address_line2": Limit("Address.AddressLine2", 500),
        "city": Limit("Address.City", 255),
        "region": Limit("Address.Region", 255),
        "postcode": Limit("Address.PostalCode", 50),
        "country": Limit("Address.Country", 50),
        "phone": Limit("Phone.PhoneNumber", 50),
        "mobile": Limit("Phone.PhoneNumber", 50),
        "fax": Limit("Phone.PhoneNumber", 50),
    },
    "quickbooks": {
        "name": Limit("Customer.DisplayName", 500, r"[^:\t\r\n]*", "no ':', tab or new line"),
        "email": Limit("Customer.PrimaryEmailAddr.Address", 100, r"(.*@.*\..*)?",
                       "an address with '@' and '.'"),
        "phone": Limit("Customer.PrimaryPhone.FreeFormNumber", 30),
        "mobile": Limit("Customer.Mobile.FreeFormNumber", 30),
        "fax": Limit("Customer.Fax.FreeFormNumber", 30),
    },
    "sage": {
        "name": Limit("contact.name", 100),
        "account_number": Limit("contact.reference", 10),
        "tax_number": Limit("contact.tax_number", 255),
        "email": Limit("contact_person.email", 100),
        "address_line1": Limit("address.address_line_1", 50),
        "address_line2": Limit("address.address_line_2", 50),
        "city": Limit("address.city", 50),
        "region": Limit("address.region", 50),
        "postcode": Limit("address.postal_code", 10),
        "phone": Limit("contact_person.telephone", 50),
        "mobile": Limit("contact_person.mobile", 50),
        "fax": Limit("contact_person.fax", 50),
    },
}


def name_length(kind: str) -> int:
    """The longest contact name ``kind`` accepts (for ``on_name_clash: suffix``)."""
    limit = LIMITS[kind]["name"].max_length
    assert limit is not None
    return limit


def refusal(kind: str, fields: ContactFields) -> str | None:
    """Why ``kind`` would refuse ``fields`` (the first field that breaks a limit), or None."""
    for attribute, limit in LIMITS.get(kind, {}).items():
        value = getattr(fields, attribute).strip()
        reason = check(limit, value, attribute)
        if reason:
            return reason
    return None


def check(limit: Limit, value: str, source: str) -> str | None:
    if limit.max_length is not None and len(value) > limit.max_length:
        return (f"{source} is {len(value)} characters; {limit.target} takes at most "
                f"{limit.max_length}: shorten it in Current RMS (nothing was sent truncated)")
    if limit.pattern is not None and re.fullmatch(limit.pattern, value, re.S) is None:
        return f"{source} {value!r} cannot be written to {limit.target}: {limit.form}"
    return None
