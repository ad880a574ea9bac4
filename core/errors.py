"""Every error a sync can meet, under one root.

The class decides the event's fate (docs/architecture.md, "Errors"): a ``Transient`` error retries with
backoff, ``Rejected`` fails at once with a reason a person can act on, ``CredentialsRefused``
marks the integration ``reconnect_needed``. Configuration errors are deliberately outside
this tree (``ConfigError``) so that nothing catching sync errors swallows them.
"""
from __future__ import annotations

from dataclasses import dataclass
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
        """The technical detail for ``last_error``: system, status, the start of the body.

        A refusal that came inside a success answer (a Xero element of a 200, a QuickBooks batch
        item) says "refused", never "HTTP 200": an operator must not read it as a success."""
        parts = [self.system or "provider", _status_words(self.status), str(self)]
        if self.body:
            parts.append(self.body[:500])
        return ": ".join(p for p in parts if p)


def _status_words(status: int | None) -> str:
    if not status:
        return ""
    return "refused" if 200 <= status < 300 else f"HTTP {status}"


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


@dataclass(frozen=True)
class Holder:
    """The record that already holds the name or number a write was refused for, as the
    system's own look-up found it, so the reason can name it and link to it."""

    id: str
    name: str
    #: Its page in the system's web app (the provider's ``web_link``), when it has one.
    url: str | None = None
    #: What the system calls it: ``contact``, ``customer``, ``vendor``, ``employee``.
    noun: str = "contact"
    active: bool = True

    def describe(self) -> str:
        """``contact 'Acme Ltd' (<web link>)``; the id where there is no link; "inactive" said."""
        where = self.url or f"id {self.id}"
        state = "" if self.active else "inactive "
        return f"{state}{self.noun} '{self.name}' ({where})"


class NameClash(Rejected):
    """Raised when a contact with the same name exists (Xero 400, QuickBooks Fault 6240)."""

    reason = "a contact with this name already exists"

    def __init__(
        self,
        message: str = "",
        *,
        existing_id: str | None = None,
        existing_type: str | None = None,
        holder: Holder | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.existing_id = existing_id
        self.existing_type = existing_type
        #: The record holding the name, where the provider looked it up.
        self.holder = holder


class AccountNumberClash(Rejected):
    """Raised when the account number (Xero AccountNumber, Sage reference) is already used."""

    reason = "the account number is already used by another contact"

    def __init__(self, message: str = "", *, number: str | None = None, holder: Holder | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: The number refused, and the contact holding it, where the provider looked it up
        #: (``number`` set means the reason already names both: ``core.link_wording``).
        self.number = number
        self.holder = holder


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
