"""Who holds the account number Xero refused (issue 16: a refusal names the contact).

Xero's message says only "The Account Number already exists" (providers.md A3). One query,
``GET /Contacts?where=AccountNumber=="…"``, finds the holder: Xero's ``where`` filters
AccountNumber exactly (optimised, A1), and the rule the sandbox plays counts active contacts,
which a plain listing returns. Used only after a refusal, so it costs nothing on a good write.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import AccountNumberClash, Holder, ProviderError
from core.link_wording import taken
from core.matching import normalise
from providers.xero import mapping

if TYPE_CHECKING:
    from providers.xero.client import XeroProvider

SYSTEM_WORD = "Xero"


def account_number_holder(provider: XeroProvider, number: str) -> Holder | None:
    """The contact carrying ``number`` (compared as matching compares account numbers)."""
    wanted = normalise("account_number", number)
    where = f'AccountNumber=="{mapping.escape_where(number.strip())}"'
    rows = provider.api.request("GET", "Contacts", params={"where": where, "page": 1}).json().get("Contacts") or []
    for row in rows:
        if normalise("account_number", str(row.get("AccountNumber") or "")) == wanted:
            contact = provider._contact(row)  # the client's own reading (url, status)
            return Holder(id=contact.id, name=contact.name, url=contact.url, active=contact.active)
    return None


def explained(provider: XeroProvider, clash: AccountNumberClash, number: str) -> AccountNumberClash:
    """``clash`` with its holder looked up and named in its reason. A failed look-up keeps the
    refusal as it was: it must never turn a clear refusal into a transient error."""
    if not number.strip():
        return clash
    try:
        holder = account_number_holder(provider, number)
    except ProviderError:  # the refusal stands on its own without the name
        holder = None
    return AccountNumberClash(
        str(clash), number=number.strip(), holder=holder, system=clash.system, status=clash.status,
        body=clash.body, reason=taken(SYSTEM_WORD, "account number", number.strip(), holder))
