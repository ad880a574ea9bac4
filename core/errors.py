"""Every error a sync can meet, under one root.

The class decides the event's fate (docs/architecture.md, "Errors"): a ``Transient`` error retries with
backoff, ``Rejected`` fails at once with a reason a person can act on, ``CredentialsRefused``
marks the integration ``reconnect_needed``. Configuration errors are deliberately outside
this tree (``ConfigError``) so that nothing catching sync errors swallows them.
"""
from __future__ import annotations

from typing import Any, TypedDict


class ConfigError(Exception):
    """Raised when a setting is missing or malformed; names the variable."""


class SyncError(Exception):
    """Root of every error met while syncing one organisation."""

    #: What a person reads on the event (``outcome.reason``). Technical detail goes to ``last_error``.
    reason: str = "unexpected error"

    def __init__(self, message: str = "", *, reason: str | None = None, **context: Any) -> None:
        super().__init__(message or reason or self.reason)
        if reason:
            self.reason = reason
        self.context = context


class ErrorContext(TypedDict):
    """Where a ``ProviderError`` came from, as a provider's error mapping passes it on
    (``ProviderError(message, **context)``)."""

    system: str
    status: int | None
    body: str | None


class ProviderError(SyncError):
    """Raised when another system (accounting or rental) answers with an error."""

    def __init__(
        self,
        message: str = "",
        *,
        system: str = "",
        status: int | None = None,
        body: str | None = None,
        reason: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, reason=reason, **context)
        self.system = system
        self.status = status
        self.body = body

    def detail(self) -> str:
        """The technical detail for ``last_error``: system, status, the start of the body."""
        parts = [self.system or "provider", f"HTTP {self.status}" if self.status else "", str(self)]
        if self.body:
            parts.append(self.body[:500])
        return ": ".join(p for p in parts if p)


class Transient(ProviderError):
    """Raised for a cause that may pass: network, timeout, 5xx. The event retries with backoff."""

    reason = "the other system is unavailable; will retry"


class RateLimited(Transient):
    """Raised on a 429 or when the limiter has no room; ``retry_after`` is in seconds."""

    reason = "rate limited; will retry"

    def __init__(self, message: str = "", *, retry_after: float = 60.0, **kwargs: Any) -> None:
        super().__init__(message or "rate limited", **kwargs)
        self.retry_after = retry_after


class CredentialsRefused(ProviderError):
    """Raised when an API key, access token or refresh token is refused (401, invalid_grant)."""

    reason = "reconnect the accounting system"


class SourceCredentialsRefused(CredentialsRefused):
    """Raised when the rental system refuses the integration's API key."""

    reason = "reconnect the rental system"


class Rejected(ProviderError):
    """Raised when the other system refuses the data: a person must act. Fails at once."""

    reason = "the accounting system refused the contact"


class NameClash(Rejected):
    """Raised when a contact with the same name exists (Xero 400, QuickBooks Fault 6240)."""

    reason = "a contact with this name already exists"

    def __init__(
        self,
        message: str = "",
        *,
        existing_id: str | None = None,
        existing_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.existing_id = existing_id
        self.existing_type = existing_type


class AccountNumberClash(Rejected):
    """Raised when the account number (Xero AccountNumber, Sage reference) is already used."""

    reason = "the account number is already used by another contact"


class ContactNotFound(Rejected):
    """Raised when a linked or named contact does not exist (deleted, archived, wrong id)."""

    reason = "the linked contact no longer exists; relink the organisation"


class LockBusy(SyncError):
    """Raised when another worker holds the organisation's lock. Steers control flow:
    the event is retried shortly, without counting a failed attempt."""

    reason = "waiting for another sync of this organisation"


class LockLost(SyncError):
    """Raised when the fencing check finds our lock gone or taken over: stop before writing."""

    reason = "lost the organisation lock; will retry"
