"""Who holds the reference Sage refused (issue 16: a refusal names the contact).

Sage's 422 says only that the reference is taken (``$source: reference``, providers.md §C3). One
query finds the holder: ``GET /contacts?search=…`` looks at name, company name and reference,
inactive contacts included (Sage keeps ``reference`` unique among them too), narrowed here to
the equal reference. Used only after a refusal, so it costs nothing on a good write.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import AccountNumberClash, Holder, ProviderError
from core.link_wording import taken
from core.matching import normalise

if TYPE_CHECKING:
    from providers.sage.client import SageProvider

SYSTEM_WORD = "Sage"
#: One page of the search is enough: a reference is unique, so at most one contact equals it.
SEARCH_PAGE_SIZE = 200


def reference_holder(provider: SageProvider, reference: str) -> Holder | None:
    """The contact (customer or supplier, active or not) whose reference equals ``reference``,
    compared as matching compares account numbers."""
    wanted = normalise("account_number", reference)
    query = {"search": reference.strip(), "attributes": "all", "items_per_page": SEARCH_PAGE_SIZE}
    for item in provider._call("GET", "/contacts", params=query).json().get("$items") or []:
        if normalise("account_number", str(item.get("reference") or "")) == wanted:
            contact = provider.to_contact(item)
            return Holder(id=contact.id, name=contact.name, url=contact.url, active=contact.active)
    return None


def explained(provider: SageProvider, clash: AccountNumberClash, reference: str) -> AccountNumberClash:
    """``clash`` with its holder named in its reason; a failed look-up keeps the refusal as it
    was (a clear refusal never becomes a transient error)."""
    if not reference.strip():
        return clash
    try:
        holder = reference_holder(provider, reference)
    except ProviderError:
        holder = None
    return AccountNumberClash(
        str(clash), number=reference.strip(), holder=holder, system=clash.system, status=clash.status,
        body=clash.body, reason=taken(SYSTEM_WORD, "reference (account number)", reference.strip(), holder))
