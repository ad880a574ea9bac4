"""The QuickBooks Online provider: customers over the v3 Accounting API (providers.md §B).

``context.tenant`` is the realm id; every path is ``<api_url>/company/{realmId}/…`` and carries
``minorversion=75`` (§B1); every write carries ``requestid``, derived from the scope and the exact
bytes sent, so a retry replays the original answer instead of writing twice.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import requests

from core.errors import ContactNotFound, CredentialsRefused, NameClash, Transient
from core.models import Contact, ContactFields, same_name
from core.ratelimit import Limits
from providers.base import (
    AccountingProvider,
    BatchResult,
    LedgerWebhooks,
    ProviderContext,
    ProviderUrls,
    TenantFromRedirect,
    idempotency_key,
    with_extras,
)
from providers.http import ApiClient
from providers.quickbooks import batch, clash, errors, mapping

if TYPE_CHECKING:
    from providers.contact_extras import Extras

#: From 2025-08-01 versions below 75 are ignored (§B1); asking for it keeps the answers stable.
MINOR_VERSION = "75"
#: ``requestid`` is at most 50 characters (providers.base.idempotency_key).
REQUEST_ID_LENGTH = 50
#: Key window: "replays the original response" (§B1) for how long is not documented:
#: UNCONFIRMED. A retry re-sends a create with its requestid only within 5 minutes.
KEY_WINDOW_SECONDS = 5 * 60.0
#: A stale SyncToken is re-read and retried this many times before giving up (Fault 5010).
STALE_RETRIES = 3
#: Rows per page of a full listing; MAXRESULTS above 1000 is not honoured (§B1).
PAGE_SIZE = 1000
#: Ids per ``Id IN (…)`` query: 100 fit easily in one URL, and MAXRESULTS goes to 1000.
IDS_PER_QUERY = 100
WEB_APP = "https://app.qbo.intuit.com"
#: The web app of Intuit's developer sandbox companies (host observed, unconfirmed, §B7).
SANDBOX_WEB_APP = "https://app.sandbox.qbo.intuit.com"
_CONTACT_ID = re.compile(r"[1-9][0-9]{0,17}")


class QuickBooksProvider(AccountingProvider):
    kind = "quickbooks"
    title = "QuickBooks Online"
    csv_column = "Linked QuickBooks customer"
    enforces_unique_names = True
    max_batch = batch.MAX_ITEMS
    oauth_scopes = "com.intuit.quickbooks.accounting"
    oauth_client_auth = "basic"
    tenant_key = "realm_id"
    tenant_pattern = r"\d{1,30}"
    env_prefix = "QUICKBOOKS"
    default_urls = ProviderUrls(
        api="https://quickbooks.api.intuit.com/v3",
        token="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        authorize="https://appcenter.intuit.com/connect/oauth2",
    )
    #: "10 requests/s per realm ID and app"; the older wording said "10 concurrent requests",
    #: so both are applied (the safer reading). 40 batch/min is the per realm+app figure (B5).
    published_limits = Limits(per_minute=500, per_second=10, concurrent=10, batch_per_minute=40)
    #: Refresh tokens live 100 days (B6).
    keepalive_idle = timedelta(days=30)
    contact_id_shape = "a QuickBooks Name ID is a whole number such as 58"
    #: The realm comes on the OAuth redirect (B6).
    tenant_discovery = TenantFromRedirect(parameter="realmId", pattern=r"\d{1,30}")
    idempotency_window = KEY_WINDOW_SECONDS
    #: One endpoint for the app, signed with its verifier token; the realm picks the
    #: integration (interface §10).
    ledger_webhooks = LedgerWebhooks("/webhooks/quickbooks", secret_env="QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN")

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        if not context.tenant:
            raise CredentialsRefused(
                "no realm id", system=errors.SYSTEM,
                reason="reconnect QuickBooks: the company (realm id) is not known",
            )
        self.api = ApiClient(
            system=errors.SYSTEM,
            base_url=f"{context.api_url.rstrip('/')}/company/{context.tenant}",
            timeout=context.timeout,
            tokens=context.tokens,
            gate=context.gate,
            error_for=errors.error_for,
        )
        #: Id -> the SyncToken of the last read; an update starts from it (5010 if it went stale).
        self.sync_tokens: dict[str, str] = {}

    # -- identity -----------------------------------------------------------------------
    @classmethod
    def valid_contact_id(cls, value: str) -> bool:
        return _CONTACT_ID.fullmatch(value.strip()) is not None

    def web_link(self, contact: Contact) -> str | None:
        # Undocumented but widely used (§B7); the nameId is the customer's Id. QUICKBOOKS_WEB_URL
        # replaces the host (``make run``: the sandbox's page, same path).
        host = self.context.web_url or (
            SANDBOX_WEB_APP if "sandbox-quickbooks" in self.context.api_url else WEB_APP)
        return f"{host.rstrip('/')}/app/customerdetail?nameId={contact.id}"

    # -- reads --------------------------------------------------------------------------
    def get_contact(self, contact_id: str) -> Contact | None:
        if not self.valid_contact_id(contact_id):
            return None
        customer = self.read("customer", contact_id.strip())
        if customer is None or not customer.get("Active", True):
            return None
        return self.to_contact(customer)

    def get_contacts(self, contact_ids: Iterable[str]) -> dict[str, Contact]:
        return {str(row["Id"]): self.to_contact(row) for row in self.customer_rows(contact_ids)}

    def customer_rows(self, contact_ids: Iterable[str]) -> Iterator[dict[str, Any]]:
        """The active customers among ``contact_ids`` (a query answers no inactive one),
        ``IDS_PER_QUERY`` ids per ``Id IN (…)`` query."""
        ids = sorted({i.strip() for i in contact_ids if self.valid_contact_id(i)}, key=int)
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start:start + IDS_PER_QUERY]
            listed = ", ".join(mapping.quote(i) for i in chunk)
            yield from self.query(f"select * from Customer where Id IN ({listed}) MAXRESULTS {len(chunk)}")

    def find_by_name(self, name: str) -> Contact | None:
        literal = mapping.quote(name.strip())
        rows = self.query(f"select * from Customer where DisplayName = {literal}")
        match = next((r for r in rows if same_name(str(r.get("DisplayName", "")), name)), None)
        return self.to_contact(match) if match else None

    def search(self, text: str, *, limit: int = 10) -> list[Contact]:
        text = text.strip()
        where = f" where DisplayName LIKE {mapping.quote(f'%{text}%')}" if text else ""
        rows = self.query(f"select * from Customer{where} ORDERBY DisplayName MAXRESULTS {limit}")
        return [self.to_contact(row) for row in rows[:limit]]

    def list_contacts(self) -> Iterator[tuple[Contact, ContactFields]]:
        start = 1
        while True:
            rows = self.query(
                f"select * from Customer ORDERBY Id STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"
            )
            for row in rows:
                yield self.to_contact(row), mapping.to_fields(row)
            if len(rows) < PAGE_SIZE:
                return
            start += len(rows)

    # -- writes -------------------------------------------------------------------------
    def create_contact(self, fields: ContactFields, *, idempotency_key: str,
                       extras: Extras | None = None) -> Contact:
        payload = mapping.create_body(fields, extras)
        try:
            answer = self.post("customer", payload, scope=idempotency_key)
        except NameClash as refusal:
            raise clash.explain(self, refusal, payload["DisplayName"]) from refusal
        return self.to_contact(answer["Customer"])

    def update_contact(
        self, contact_id: str, fields: ContactFields, *, idempotency_key: str,
        extras: Extras | None = None,
    ) -> Contact:
        """A sparse update with the current SyncToken; a stale one is re-read and retried."""
        sync_token = self.sync_tokens.get(contact_id) or self._current_sync_token(contact_id)
        for attempt in range(STALE_RETRIES + 1):
            payload = mapping.update_payload(fields, contact_id, sync_token)
            if extras is not None:
                payload = extras.apply(self.kind, payload)
            try:
                answer = self.post("customer", payload, scope=idempotency_key)
            except errors.StaleSyncToken:
                if attempt == STALE_RETRIES:
                    raise
                sync_token = self._current_sync_token(contact_id)
            except NameClash as refusal:
                raise clash.explain(self, refusal, payload["DisplayName"]) from refusal
            else:
                return self.to_contact(answer["Customer"])
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def create_contacts(self, items: list[tuple[ContactFields, str]], *,
                        extras: Sequence[Extras | None] | None = None) -> list[BatchResult]:
        return batch.create(self, with_extras(items, extras))

    # -- HTTP ---------------------------------------------------------------------------
    def read(self, entity: str, record_id: str) -> dict[str, Any] | None:
        """``GET {entity}/{Id}``, inactive records included; ``None`` for Fault 610."""
        try:
            response = self.api.request("GET", f"{entity}/{record_id}", params=_params())
        except ContactNotFound:
            return None
        return _answer(response).get(entity.capitalize())

    def query(self, text: str) -> list[dict[str, Any]]:
        response = self.api.request("GET", "query", params=_params(query=text))
        return list(_answer(response).get("QueryResponse", {}).get("Customer", []))

    def post(
        self, path: str, payload: dict[str, Any], *, scope: str, is_batch: bool = False
    ) -> dict[str, Any]:
        """One write; ``requestid`` hashes the scope and the exact bytes sent (docs/architecture.md, step 3)."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        request_id = idempotency_key(scope, body, length=REQUEST_ID_LENGTH)
        response = self.api.request(
            "POST", path, batch=is_batch, data=body, params=_params(requestid=request_id),
            headers={"Content-Type": "application/json"}, expect=(200,),
        )
        return _answer(response)

    def _current_sync_token(self, contact_id: str) -> str:
        customer = self.read("customer", contact_id)
        if customer is None or not customer.get("Active", True):
            raise ContactNotFound(
                f"customer {contact_id} not found or inactive", system=errors.SYSTEM
            )
        return self.to_contact(customer).version or "0"

    def to_contact(self, customer: dict[str, Any]) -> Contact:
        contact = mapping.to_contact(customer, url=None)
        if contact.version is not None:
            self.sync_tokens[contact.id] = contact.version
        return replace(contact, url=self.web_link(contact))


def _params(**extra: str) -> dict[str, str]:
    return {"minorversion": MINOR_VERSION, **extra}


def _answer(response: requests.Response) -> dict[str, Any]:
    """The JSON body; a Fault inside an HTTP 200 is raised like any refusal (§B3)."""
    try:
        body = response.json()
    except ValueError as error:
        raise Transient(
            "answer is not JSON", system=errors.SYSTEM, status=response.status_code,
            body=response.text[:2000],
        ) from error
    refusal = errors.fault_error(body, status=response.status_code, text=response.text)
    if refusal is not None:
        raise refusal
    return body if isinstance(body, dict) else {}
