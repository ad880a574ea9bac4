"""The accounting-system interface every provider module fills in.

A provider is built per integration and per job from a ``ProviderContext`` (who, where, with
which tokens). It speaks the shared vocabulary of ``core.models`` and raises only the errors of
``core.errors``; everything specific to one system (its endpoints, payloads, id formats, error
bodies and web links) stays inside its own module. "Adding an accounting system" in the README
is the recipe.
"""
from __future__ import annotations

import abc
import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Mapping, Protocol, Sequence

from core.errors import Rejected
from core.models import Contact, ContactFields
from core.ratelimit import Limits

if TYPE_CHECKING:
    from providers.contact_extras import Extras


class TokenSource(Protocol):
    """Hands out a valid OAuth access token for one integration (see ``providers.oauth``)."""

    def access_token(self) -> str:
        """A token valid for at least a minute; refreshes (once, under a lock) when needed."""

    def refresh_after_rejection(self, rejected_token: str) -> str:
        """Called after a 401: refresh unless another worker already did; raise
        ``CredentialsRefused`` when the refresh token itself is refused."""


class CallGate(Protocol):
    """Waits for room under the tenant's rate limits before each call (``core.ratelimit``)."""

    def acquire(self, *, batch: bool = False) -> str:
        """Block until a call may be made, or raise ``RateLimited`` if none is possible soon.
        Returns a slot id; ``release(slot)`` when the call has ended (concurrency limits)."""

    def release(self, slot: str) -> None:
        """The call holding ``slot`` has ended."""

    def penalise(self, retry_after: float) -> None:
        """A 429 came anyway: hold back every worker of this tenant for ``retry_after`` s."""


@dataclass
class ProviderContext:
    """Everything a provider needs to talk to one tenant of its system."""

    integration_id: str
    api_url: str
    tokens: TokenSource
    #: Xero tenant id, QuickBooks realm id, Sage business id.
    tenant: str | None = None
    #: Non-secret state the provider keeps per integration (Xero ShortCode, Sage business).
    config: dict[str, Any] = field(default_factory=dict)
    #: Persists ``config`` changes (called with the keys that changed).
    save_config: Callable[[dict[str, Any]], None] = lambda changes: None
    gate: CallGate | None = None
    #: ``requests`` timeouts: (connect, read) seconds. Every outbound call has both.
    timeout: tuple[float, float] = (3.05, 20.0)
    #: The base of the contacts' web links where it is not the web app's own (``<PREFIX>_WEB_URL``:
    #: ``make run`` points it at the sandbox's pages); ``None``: the provider's default.
    web_url: str | None = None


def idempotency_key(scope: str, body: bytes, *, length: int = 32) -> str:
    """A key derived from the caller's scope and the exact body sent (docs/architecture.md, step 3).

    ``scope`` names the integration, the organisation, the operation AND the event and its
    attempt (``workers.executor``), never the body alone: two edits that happen to send the same
    body (an email a -> b -> a, a replay undoing a hand edit) are two writes, and a key that
    only hashed the body would have the system replay the first answer and write nothing.
    A retry after an unknown outcome that must be answered from the first reply re-sends the
    first request with its recorded scope (the create marker), not a new one. Hashing the
    exact body in as well means a changed body (a fresh QuickBooks SyncToken) is never
    answered with an old reply. ``length`` hex digits: Xero allows 128, QuickBooks' ``requestid``
    50, Sage 32.
    """
    return hashlib.sha256(scope.encode() + b"\n" + body).hexdigest()[:length]


class FencedGate:
    """The rate-limit gate with the fencing check right behind it (docs/architecture.md, "Invariants").

    ``ApiClient`` takes the access token (perhaps after a refresh), then waits at the gate, then
    sends. Checking the fence here, after every wait and just before the bytes go out, leaves
    only the call itself (connect + read timeout) between the last check and the write landing;
    ``core.locks.check_budget`` keeps that below the lock's TTL. A 401 goes round again, and is
    fenced again. ``check`` raises ``LockLost``; the slot is given back first."""

    def __init__(self, inner: CallGate | None, check: Callable[[], None]) -> None:
        self.inner = inner
        self.check = check
        #: Requests let through so far: a caller tells "nothing was sent" from "something was".
        self.passed = 0

    def acquire(self, *, batch: bool = False) -> str:
        slot = self.inner.acquire(batch=batch) if self.inner is not None else ""
        try:
            self.check()
        except BaseException:
            if self.inner is not None:
                self.inner.release(slot)
            raise
        self.passed += 1
        return slot

    def release(self, slot: str) -> None:
        if self.inner is not None:
            self.inner.release(slot)

    def penalise(self, retry_after: float) -> None:
        if self.inner is not None:
            self.inner.penalise(retry_after)


@dataclass(frozen=True)
class ProviderUrls:
    """The default URLs of one accounting system (interface §2); ``<PREFIX>_API_URL``,
    ``<PREFIX>_TOKEN_URL`` and ``<PREFIX>_AUTHORIZE_URL`` override them."""

    api: str
    token: str
    authorize: str


@dataclass(frozen=True)
class LedgerWebhooks:
    """How a system sends its signed webhooks about contact changes to this service (interface
    §10): what a subscription to them needs (``make run`` subscribes its demo integrations to
    the sandbox's, ``scripts.demo``)."""

    #: The service's receiving path; ``{integration_id}`` is filled in where it names one.
    path: str
    #: The environment variable holding the app's one signing secret; ``None``: each
    #: integration's own ``provider.webhook_key``.
    secret_env: str | None = None
    #: Whether the system checks the endpoint before it turns the webhook on (Xero's
    #: intent to receive: a good signature answered 200, a bad one 401).
    intent_to_receive: bool = False


@dataclass(frozen=True)
class Consent:
    """What a fresh OAuth consent brought back: the callback's query (QuickBooks names its
    realm there) and a context holding the new tokens, to ask the system itself (Xero)."""

    redirect_query: Mapping[str, str]
    context: ProviderContext


class TenantDiscovery(Protocol):
    """Finds the tenant (organisation, realm, business) a fresh consent was given for."""

    def tenant(self, consent: Consent) -> str | None:
        """The tenant, or ``None`` when it cannot be told; may raise ``ProviderError``."""


@dataclass(frozen=True)
class TenantFromRedirect:
    """The tenant is a parameter of the OAuth redirect (QuickBooks ``realmId``)."""

    parameter: str
    pattern: str

    def tenant(self, consent: Consent) -> str | None:
        value = consent.redirect_query.get(self.parameter, "")
        return value if re.fullmatch(self.pattern, value) else None


@dataclass(frozen=True)
class BatchResult:
    """One element of a batch create: the contact, or the error for that element."""

    contact: Contact | None = None
    error: Exception | None = None


def with_extras(batch: Sequence[tuple[ContactFields, str]], extras: Sequence[Extras | None] | None
                ) -> list[tuple[ContactFields, str, Extras | None]]:
    """Each batch element with its extras (``None`` when the caller adds nothing)."""
    if extras is not None and len(extras) != len(batch):
        raise ValueError(f"{len(extras)} extras for {len(batch)} contacts")
    return [(fields, scope, extras[i] if extras is not None else None)
            for i, (fields, scope) in enumerate(batch)]


class AccountingProvider(abc.ABC):
    """One accounting system. Subclasses set the class constants and fill in the methods."""

    #: ``provider.kind`` in the API: ``xero``, ``quickbooks``, ``sage``.
    kind: ClassVar[str]
    #: Human name for messages and the README.
    title: ClassVar[str]
    #: The CSV link column Current RMS uses for this system (interface §7).
    csv_column: ClassVar[str]
    #: Whether the system itself refuses duplicate names. Where it does, a create goes first and
    #: a clash leads to the look-up (one call); where it does not, link-by-name searches first.
    enforces_unique_names: ClassVar[bool]
    #: Most contacts one batch create may carry; 1 where the system has no batch endpoint.
    max_batch: ClassVar[int] = 1
    #: OAuth: scopes asked for, and how the client authenticates at the token endpoint
    #: (``basic``: HTTP Basic client_id:client_secret; ``body``: both in the form body).
    oauth_scopes: ClassVar[str]
    oauth_client_auth: ClassVar[str] = "basic"

    # -- facts the rest of the service reads through ``providers.registry`` -----------------
    #: Where this system's tenant goes in ``provider`` (interface §3): ``tenant_id``, ...
    tenant_key: ClassVar[str]
    #: A regular expression the tenant value must match in the admin API (besides 1-200
    #: characters); ``None``: any.
    tenant_pattern: ClassVar[str | None] = None
    #: Prefix of its environment variables: ``<PREFIX>_API_URL``, ``_TOKEN_URL``,
    #: ``_AUTHORIZE_URL``, ``_CLIENT_ID``, ``_CLIENT_SECRET`` (interface §2).
    env_prefix: ClassVar[str]
    #: The URLs used where those variables are not set (interface §2).
    default_urls: ClassVar[ProviderUrls]
    #: The system's published per-tenant rate limits (an integration may lower them).
    published_limits: ClassVar[Limits]
    #: The keep-alive refreshes an idle integration's tokens once its access token has been
    #: expired this long: well inside the system's refresh-token lifetime.
    keepalive_idle: ClassVar[timedelta]
    #: What a contact id looks like, in words, for the message refusing a malformed one.
    contact_id_shape: ClassVar[str]
    #: How the connect flow learns the tenant of a fresh consent; ``None`` where the provider
    #: resolves it itself on first use (Sage's lead business).
    tenant_discovery: ClassVar[TenantDiscovery | None] = None
    #: Seconds within which re-sending a create with its idempotency key is trusted to be
    #: answered from the first reply (the system's key window). Each system says whether its
    #: own figure is confirmed; past it, a retry looks up what was sent instead.
    idempotency_window: ClassVar[float] = 0.0
    #: The signed webhooks the system sends about contact changes; ``None`` where it sends none
    #: (Sage: the ledger poll is its only source).
    ledger_webhooks: ClassVar[LedgerWebhooks | None] = None

    def __init__(self, context: ProviderContext) -> None:
        self.context = context

    def fence_with(self, check: Callable[[], None]) -> None:
        """Run ``check`` right before every request this provider sends (``FencedGate``)."""
        api = getattr(self, "api", None)
        if api is None:
            return
        if isinstance(api.gate, FencedGate):
            api.gate.check = check
        else:
            api.gate = FencedGate(api.gate, check)

    def requests_sent(self) -> int:
        """Requests that passed the fence so far (``fence_with``); 0 when not fenced."""
        gate = getattr(getattr(self, "api", None), "gate", None)
        return gate.passed if isinstance(gate, FencedGate) else 0

    # -- identity -----------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def valid_contact_id(cls, value: str) -> bool:
        """Whether ``value`` has the shape of this system's contact id (CSV checks)."""

    @abc.abstractmethod
    def web_link(self, contact: Contact) -> str | None:
        """The address that opens the contact in the system's web app."""

    # -- reads --------------------------------------------------------------------------
    @abc.abstractmethod
    def get_contact(self, contact_id: str) -> Contact | None:
        """The contact, or ``None`` when it does not exist or is archived/deleted."""

    def get_contacts(self, contact_ids: Iterable[str]) -> dict[str, Contact]:
        """Existing contacts among ``contact_ids`` (batched where the system allows)."""
        found: dict[str, Contact] = {}
        for contact_id in contact_ids:
            contact = self.get_contact(contact_id)
            if contact is not None:
                found[contact_id] = contact
        return found

    @abc.abstractmethod
    def find_by_name(self, name: str) -> Contact | None:
        """An active customer whose name equals ``name`` (trimmed, case-insensitive)."""

    @abc.abstractmethod
    def search(self, text: str, *, limit: int = 10) -> list[Contact]:
        """Active customers whose name contains ``text``, at most ``limit``."""

    @abc.abstractmethod
    def list_contacts(self) -> Iterator[tuple[Contact, ContactFields]]:
        """Every active customer, paged, with its fields mapped back (bulk import)."""

    # -- writes -------------------------------------------------------------------------
    @abc.abstractmethod
    def create_contact(self, fields: ContactFields, *, idempotency_key: str,
                       extras: Extras | None = None) -> Contact:
        """Create a customer (``extras``: defaults and custom fields added to its body). Raises ``NameClash`` / ``AccountNumberClash`` / ``Rejected``.

        ``idempotency_key`` is a scope: the provider sends ``idempotency_key(scope, body)``."""

    @abc.abstractmethod
    def update_contact(
        self, contact_id: str, fields: ContactFields, *, idempotency_key: str,
        extras: Extras | None = None,
    ) -> Contact:
        """Overwrite the contact's mapped fields ("Current RMS wins"), and ``extras``' custom fields."""

    def create_contacts(
        self, batch: list[tuple[ContactFields, str]], *,
        extras: Sequence[Extras | None] | None = None,
    ) -> list[BatchResult]:
        """Create several contacts, one result per element in order; ``extras[i]`` (defaults
        and custom fields) goes into element ``i``'s body exactly as in ``create_contact``.
        The default makes one call per contact; systems with a batch endpoint override it."""
        results: list[BatchResult] = []
        for fields, key, added in with_extras(batch, extras):
            try:
                results.append(BatchResult(contact=self.create_contact(
                    fields, idempotency_key=key, extras=added)))
            except Rejected as error:  # a refused element does not stop the others
                results.append(BatchResult(error=error))
        return results
