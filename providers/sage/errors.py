"""Sage's refusals -> ``core.errors`` (ApiClient's ``error_for``).

Sage answers errors with a bare JSON array of ``$``-prefixed objects (providers.md §C3):
``[{"$severity": "error", "$dataCode": "RecordInvalid", "$message": "...", "$source": "reference"}]``.
Only what is Sage-specific is read here: 404 and 422 (and other 4xx that carry the array).
401, 403, 429 and 5xx are left to ApiClient's common handling (refresh, reconnect, retry).
"""
from __future__ import annotations

import json
from typing import Any

import requests

from core.errors import AccountNumberClash, ContactNotFound, ErrorContext, ProviderError, Rejected

SYSTEM = "sage"
#: Statuses ApiClient already translates the same way for every system.
COMMON_STATUSES = (401, 403, 408, 409, 423, 429)
#: ``$source`` values that name the contact's reference (the account-number analogue).
REFERENCE_SOURCES = ("reference", "contact.reference")


def sage_errors(response: requests.Response) -> list[dict[str, Any]]:
    """The ``$``-objects of an answer; empty when the body is not Sage's error array."""
    try:
        body = json.loads(response.text)
    except ValueError:
        return []
    if not isinstance(body, list):
        return []
    return [item for item in body if isinstance(item, dict) and "$dataCode" in item]


def messages(errors: list[dict[str, Any]]) -> str:
    """Sage's own words, for the reason a person reads."""
    return "; ".join(str(e.get("$message") or e.get("$dataCode")) for e in errors)


def error_for(response: requests.Response) -> ProviderError | None:
    status = response.status_code
    if status in COMMON_STATUSES or status >= 500:
        return None
    errors = sage_errors(response)
    context: ErrorContext = {"system": SYSTEM, "status": status, "body": response.text[:2000]}
    where = f"{response.request.method} {response.request.path_url.split('?')[0]}"
    if status == 404:
        return ContactNotFound(f"{where}: not found", **context)
    if not errors:
        return None
    if status == 422 and any(e.get("$source") in REFERENCE_SOURCES for e in errors):
        # The exact duplicate-reference text is unconfirmed (§C3): key on ``$source`` only.
        return AccountNumberClash(f"{where}: {messages(errors)}", **context)
    return Rejected(
        f"{where}: {messages(errors)}",
        reason=f"Sage refused the contact: {messages(errors)}", **context,
    )
