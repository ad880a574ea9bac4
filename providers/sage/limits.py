"""What Sage refuses for length or form, by ContactFields attribute, from
the Sage v3.1 Swagger (``Contact``, ``Address``,
``ContactPerson``).
"""
from __future__ import annotations

from providers.field_limits import Limit

LIMITS = {
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
}
