"""QuickBooks fault bodies -> ``core.errors`` (providers.md §B3).

Faults come as ``{"Fault":{"Error":[…],"type"}}`` and, on some 401s, with lowercase keys
``{"fault":{"error":[…],"type"}}``; both are read. A fault can also arrive inside an HTTP 200 (a
batch item, or any answer: Intuit error-codes page), so ``fault_error`` works on the body alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests

from core.errors import (
    ContactNotFound,
    CredentialsRefused,
    NameClash,
    ProviderError,
    RateLimited,
    Rejected,
    Transient,
)

SYSTEM = "quickbooks"
#: "wait 60 seconds before retrying" (§B5); QuickBooks sends no Retry-After.
THROTTLE_RETRY_AFTER = 60.0
DUPLICATE_NAME = "6240"
STALE_OBJECT = "5010"
NOT_FOUND = "610"
QUERY_PARSE = "4000"
THROTTLED = "3001"
AUTH_FAILED = "3200"
NOT_AUTHORISED = "3100"
_CLASH_ID = re.compile(r"Id=(\d+)")


class StaleSyncToken(Transient):
    """Raised when an update carried an old SyncToken (Fault 5010). The provider re-reads the
    customer and retries; it escapes only when the customer keeps changing under us."""

    reason = "the customer was being changed in QuickBooks at the same time; will retry"


@dataclass(frozen=True)
class FaultItem:
    code: str
    message: str
    detail: str
    element: str
    fault_type: str


def fault_items(body: Any) -> list[FaultItem]:
    """The errors of a fault in either casing; ``[]`` when ``body`` is not a fault."""
    if not isinstance(body, dict):
        return []
    fault = body.get("Fault") or body.get("fault")
    if not isinstance(fault, dict):
        return []
    fault_type = str(fault.get("type") or "")
    errors = fault.get("Error") or fault.get("error") or []
    return [_item(error, fault_type) for error in errors if isinstance(error, dict)]


def _item(error: dict[str, Any], fault_type: str) -> FaultItem:
    def pick(name: str) -> str:
        return str(error.get(name) or error.get(name.lower()) or error.get(name.capitalize()) or "")

    return FaultItem(pick("code"), pick("Message"), pick("Detail"), pick("element"), fault_type)


def fault_error(body: Any, *, status: int | None = None, text: str = "") -> ProviderError | None:
    """The typed error for a fault body, or ``None`` when ``body`` is no fault."""
    items = fault_items(body)
    if not items:
        return None
    first = items[0]
    context = {"system": SYSTEM, "status": status, "body": text[:2000] or None}
    message = f"Fault {first.code} {first.message}: {first.detail}".strip()
    return _by_code(first, message, context) or _by_type(first, message, status, context)


def _by_code(item: FaultItem, message: str, context: dict[str, Any]) -> ProviderError | None:
    if item.code == DUPLICATE_NAME:
        found = _CLASH_ID.search(item.detail)
        return NameClash(message, existing_id=found.group(1) if found else None, **context)
    if item.code == STALE_OBJECT:
        return StaleSyncToken(message, **context)
    if item.code == NOT_FOUND:
        return ContactNotFound(message, **context)
    if item.code == THROTTLED:
        return RateLimited(message, retry_after=THROTTLE_RETRY_AFTER, **context)
    if item.code in (AUTH_FAILED, NOT_AUTHORISED):
        return CredentialsRefused(message, **context)
    if item.code == QUERY_PARSE:
        return Rejected(message, reason="QuickBooks could not parse the query", **context)
    return None


def _by_type(
    item: FaultItem, message: str, status: int | None, context: dict[str, Any]
) -> ProviderError:
    kind = item.fault_type.lower()
    if "authentication" in kind or "authorization" in kind:
        return CredentialsRefused(message, **context)
    if (status or 0) >= 500 or kind in ("systemfault", "service"):
        return Transient(message, **context)
    reason = f"QuickBooks refused the customer: {item.detail or item.message}"
    return Rejected(message, reason=reason, **context)


def error_for(response: requests.Response) -> ProviderError | None:
    """``ApiClient``'s translator: QuickBooks' own reading of a refused answer."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    specific = fault_error(body, status=status, text=response.text)
    if status == 429 and not isinstance(specific, RateLimited):
        return RateLimited(
            "throttled", retry_after=THROTTLE_RETRY_AFTER, system=SYSTEM, status=status,
            body=response.text[:2000],
        )
    return specific
