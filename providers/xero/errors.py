"""Xero error bodies -> ``core.errors`` (providers.md A3, A5).

A refused contact comes back either as one element of a 200 (``summarizeErrors=false``, which
this provider always sends) or inside a 400 ValidationException. Its ``ValidationErrors``
messages decide the type: a name already used -> ``NameClash`` (the sync then looks the contact
up by name), an account number already used -> ``AccountNumberClash``, anything else ->
``Rejected`` with Xero's words as the reason. 401/403 are left to ``ApiClient`` (refresh, then
``CredentialsRefused``); 5xx and network faults too (``Transient``).
"""
from __future__ import annotations

from typing import Any

import requests

from core.errors import AccountNumberClash, ContactNotFound, ErrorContext, NameClash, ProviderError, RateLimited, Rejected
from providers.http import parse_retry_after

SYSTEM = "xero"
#: The uniqueness message of the spec's 400 examples: "The contact name X is already assigned
#: to another contact. The contact name must be unique across all active contacts."
NAME_TAKEN_MARKS = ("is already assigned to another contact", "contact name must be unique")
#: Observed wording (calcinai/xero-php #880): "The Account Number already exists. …".
ACCOUNT_NUMBER_TAKEN_MARK = "account number already exists"


def element_error(element: dict[str, Any], *, status: int | None = None,
                  body: str | None = None) -> Rejected:
    """The error for one refused ``Contact`` element."""
    messages = [str(e.get("Message", "")) for e in element.get("ValidationErrors") or []]
    text = " ".join(messages) or "Xero refused the contact without a message"
    lowered = [m.casefold() for m in messages]
    context: ErrorContext = {"system": SYSTEM, "status": status, "body": body}
    # A name clash goes first: it is the one the sync can resolve by itself (by linking).
    if any(all(mark in m for mark in NAME_TAKEN_MARKS) for m in lowered):
        return NameClash(text, **context)
    if any(ACCOUNT_NUMBER_TAKEN_MARK in m for m in lowered):
        return AccountNumberClash(text, **context)
    return Rejected(text, reason=f"Xero refused the contact: {text}", **context)


def is_refused(element: dict[str, Any]) -> bool:
    """Whether an element of a ``summarizeErrors=false`` answer was refused (A3)."""
    return element.get("StatusAttributeString") == "ERROR" or bool(element.get("ValidationErrors"))


def error_for(response: requests.Response) -> ProviderError | None:
    """``ApiClient``'s hook: the typed error for a refused Xero answer, or ``None``."""
    status, body = response.status_code, response.text[:2000]
    if status == 400:
        return _bad_request(response, body)
    if status == 404:
        return ContactNotFound(f"{response.request.method} {response.request.path_url.split('?')[0]}",
                               system=SYSTEM, status=status, body=body)
    if status == 429:
        problem = response.headers.get("X-Rate-Limit-Problem", "unknown")
        return RateLimited(f"Xero {problem} rate limit", system=SYSTEM, status=status, body=body,
                           retry_after=parse_retry_after(response.headers.get("Retry-After")))
    return None


def _bad_request(response: requests.Response, body: str) -> Rejected:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    elements = payload.get("Elements") or []
    refused = [e for e in elements if isinstance(e, dict) and is_refused(e)]
    if payload.get("Type") == "ValidationException" and refused:
        return element_error(refused[0], status=400, body=body)
    message = str(payload.get("Message") or body or "bad request")
    kind = payload.get("Type") or "Error"
    return Rejected(f"{kind}: {message}", system=SYSTEM, status=400, body=body,
                    reason=f"Xero refused the request: {message}")
