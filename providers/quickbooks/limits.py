"""What QuickBooks Online refuses for length or form, by ContactFields attribute, from
the Intuit Customer entity page (providers.md §B2;
QuickBooks publishes no spec). ``CompanyName`` carries the first 100 characters of the name:
the one documented mapping rule (README).
"""
from __future__ import annotations

from providers.field_limits import Limit

LIMITS = {
    "name": Limit("Customer.DisplayName", 500, r"[^:\t\r\n]*", "no ':', tab or new line"),
    "email": Limit("Customer.PrimaryEmailAddr.Address", 100, r"(.*@.*\..*)?",
                   "an address with '@' and '.'"),
    "phone": Limit("Customer.PrimaryPhone.FreeFormNumber", 30),
    "mobile": Limit("Customer.Mobile.FreeFormNumber", 30),
    "fax": Limit("Customer.Fax.FreeFormNumber", 30),
}
