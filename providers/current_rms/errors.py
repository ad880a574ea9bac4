"""Current RMS answers -> ``core.errors`` types, for ``ApiClient(error_for=...)``.

the Current RMS API documentation §2.1: clients handle 401 (auth), 422 (validation, ``{"errors": ...}``)
and 429 (rate limit) [3P]. A refused API key is the rental system's, not the accounting
system's, so it is ``SourceCredentialsRefused`` ("reconnect the rental system", interface §5).
"""
from __future__ import annotations

from typing import Any

import requests

from core.errors import (
    ProviderError,
    RateLimited,
    Rejected,
    SourceCredentialsRefused,
    Transient,
)
from providers.http import parse_retry_after

SYSTEM = "current_rms"


def error_for(response: requests.Response) -> ProviderError | None:
    """The typed error for a refused answer; ``None`` leaves it to ``ApiClient``'s defaults."""
    status, body = response.status_code, response.text[:2000]
    where = f"{response.request.method} {response.request.path_url.split('?')[0]}"
    context: dict[str, Any] = {"system": SYSTEM, "status": status, "body": body}
    if status in (401, 403):  # 403: the API is "not available for trial accounts" (§2.1)
        return SourceCredentialsRefused(f"{where}: API key refused", **context)
    if status == 404:
        return Rejected(f"{where}: not found", reason="the organisation no longer exists in "
                        "Current RMS", **context)
    if status == 422:
        message = error_message(response)
        return Rejected(f"{where}: {message}", reason=f"Current RMS refused it: {message}",
                        **context)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(f"{where}: rate limited", retry_after=retry_after, **context)
    if status >= 500:
        return Transient(f"{where}: server error", **context)
    return None


def error_message(response: requests.Response) -> str:
    """The words of an ``{"errors": ...}`` body: a list, a field -> messages hash, or text."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return response.text[:200] or f"HTTP {response.status_code}"
    if isinstance(errors, dict):
        return "; ".join(f"{field} {msg}" for field, msgs in errors.items()
                         for msg in (msgs if isinstance(msgs, list) else [msgs]))
    if isinstance(errors, list):
        return "; ".join(str(error) for error in errors)
    return str(errors or f"HTTP {response.status_code}")
