"""What Xero refuses for length or form, by ContactFields attribute, from
the Xero spec (``Contact``, ``Address``, ``Phone``; providers.md §A2).
"""
from __future__ import annotations

from providers.field_limits import Limit

LIMITS = {
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
}
