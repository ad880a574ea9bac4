"""Xero as an accounting system: contacts over the Accounting API v2 (providers.md §A).

Every call carries ``xero-tenant-id`` (the integration's tenant) and goes through
``providers.http.ApiClient``. Writes always send ``summarizeErrors=false`` (A3) and an
``Idempotency-Key`` derived from the caller's scope and the exact bytes sent.
"""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence
from urllib.parse import quote

import structlog

from core.errors import AccountNumberClash, ContactNotFound, ProviderError, Rejected, Transient
from core.models import Contact, ContactFields, same_name
from core.ratelimit import Limits
from providers import stamps
from providers.base import (
    AccountingProvider,
    BatchResult,
    LedgerWebhooks,
    ProviderContext,
    ProviderUrls,
    idempotency_key,
    with_extras,
)
from providers.http import ApiClient
from providers.xero import errors, holders, mapping
from providers.xero.connections import XeroConnections

if TYPE_CHECKING:
    from providers.contact_extras import Extras

log = structlog.get_logger(__name__)

#: Xero's web app; ``XERO_WEB_URL`` replaces it (``make run``: the sandbox's pages, same paths).
WEB_APP = "https://go.xero.com"
#: Deep link of the "new UI" (A7); ShortCode from GET /Organisation.
WEB_LINK = ("{base}/organisationlogin/default.aspx"
            "?shortcode={short_code}&redirecturl=/Contacts/View/{contact_id}")
#: Used only while the ShortCode cannot be read: opens in whichever organisation is selected (A7).
WEB_LINK_WITHOUT_SHORTCODE = "{base}/Contacts/View/{contact_id}"
PAGE_SIZE = 100  #: contacts per page of GET /Contacts (spec)
ID_CHUNK = 50  #: GUIDs per ``IDs=`` query; more than ~52 gave 404 in one report (A4)
MAX_MERGE_HOPS = 5  #: a contact merged into one that was merged again...
#: Idempotency-Key: up to 128 characters (spec); 64 hex digits of SHA-256.
KEY_LENGTH = 64
#: Key window: the spec gives none; "6 minutes" appears only in third-party notes (A1):
#: UNCONFIRMED. A retry re-sends a create with its key only within 5 minutes, below that figure.
KEY_WINDOW_SECONDS = 5 * 60.0
ACTIVE = 'ContactStatus=="ACTIVE"'


class XeroProvider(AccountingProvider):
    kind = "xero"
    title = "Xero"
    csv_column = "Linked Xero contact"
    enforces_unique_names = True
    max_batch = 50  #: "batch elements in bundles of up to 50" (A4)
    oauth_scopes = "offline_access accounting.contacts accounting.settings.read"
    oauth_client_auth = "basic"
    tenant_key = "tenant_id"
    env_prefix = "XERO"
    default_urls = ProviderUrls(
        api="https://api.xero.com/api.xro/2.0",
        token="https://identity.xero.com/connect/token",
        authorize="https://login.xero.com/identity/connect/authorize",
    )
    #: Per tenant: 60 a minute, 5 at a time, 5,000 a day; 10,000 a minute per app (A5).
    published_limits = Limits(per_minute=60, concurrent=5, per_day=5000, app_per_minute=10000)
    #: Refresh tokens live 60 days unused (A6).
    keepalive_idle = timedelta(days=14)
    contact_id_shape = "a Xero ContactID is a GUID such as B5B40C60-F4A4-4D32-B3F4-8CD54787DAED"
    #: The organisation granted is listed at GET /connections (A6).
    tenant_discovery = XeroConnections()
    idempotency_window = KEY_WINDOW_SECONDS
    #: Signed per app with its webhook key (``provider.webhook_key``), after Xero's
    #: intent-to-receive check (interface §10).
    ledger_webhooks = LedgerWebhooks("/webhooks/xero/{integration_id}", intent_to_receive=True)

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self.api = ApiClient(
            system="xero", base_url=context.api_url, timeout=context.timeout,
            tokens=context.tokens, gate=context.gate, error_for=errors.error_for,
            headers={"xero-tenant-id": context.tenant} if context.tenant else {},
        )

    # -- identity -----------------------------------------------------------------------
    @classmethod
    def valid_contact_id(cls, value: str) -> bool:
        return bool(mapping.GUID.match(value.strip()))

    def web_link(self, contact: Contact) -> str | None:
        base = (self.context.web_url or WEB_APP).rstrip("/")
        short_code = self._short_code()
        if not short_code:
            return WEB_LINK_WITHOUT_SHORTCODE.format(base=base, contact_id=contact.id)
        return WEB_LINK.format(base=base, short_code=quote(short_code, safe="!"), contact_id=contact.id)

    def _short_code(self) -> str | None:
        """Read once from GET /Organisation, then kept in the integration's config."""
        if self.context.config.get("short_code"):
            return str(self.context.config["short_code"])
        try:
            organisations = self.api.request("GET", "Organisation").json().get("Organisations") or []
        except ProviderError as error:  # a link without ShortCode beats failing a written contact
            log.warning("xero.short_code_unavailable", error=str(error))
            return None
        short_code = organisations[0].get("ShortCode") if organisations else None
        if short_code:
            self.context.config["short_code"] = short_code
            self.context.save_config({"short_code": short_code})
        return short_code

    def _contact(self, element: dict[str, Any]) -> Contact:
        contact = Contact(
            id=element["ContactID"], name=element.get("Name") or "",
            email=element.get("EmailAddress") or "",
            active=element.get("ContactStatus") == "ACTIVE",
            merged_to=_merged_to(element), updated_at=stamps.msdate(element.get("UpdatedDateUTC")),
        )
        return dataclasses.replace(contact, url=self.web_link(contact))

    # -- reads --------------------------------------------------------------------------
    def get_contact(self, contact_id: str) -> Contact | None:
        """The contact; a merged one is followed to the contact it was merged into (§5.4)."""
        return self._fetch(contact_id.strip(), hops=0)

    def _fetch(self, contact_id: str, *, hops: int) -> Contact | None:
        if not self.valid_contact_id(contact_id) or hops > MAX_MERGE_HOPS:
            return None
        response = self.api.request("GET", f"Contacts/{contact_id}", expect=(200, 404))
        found = response.json().get("Contacts") if response.status_code == 200 else None
        return self._resolve(found[0] if found else None, hops=hops)

    def _resolve(self, element: dict[str, Any] | None, *, hops: int) -> Contact | None:
        if element is None:
            return None
        merged_to = _merged_to(element)
        if merged_to:
            return self._fetch(merged_to, hops=hops + 1)
        return self._contact(element) if element.get("ContactStatus") == "ACTIVE" else None

    def get_contacts(self, contact_ids: Iterable[str]) -> dict[str, Contact]:
        found: dict[str, Contact] = {}
        for asked, row in self.rows_by_id(contact_ids):
            contact = self._resolve(row, hops=0)
            if contact is not None:
                found[asked] = contact
        return found

    def rows_by_id(self, contact_ids: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Each valid id asked for, with its row (``None``: no such contact), read ``ID_CHUNK``
        at a time with ``IDs=``; archived contacts included, to see merges, and ``page=1`` so
        that ``MergedToContactID`` is returned (spec)."""
        wanted = [i for i in dict.fromkeys(c.strip() for c in contact_ids) if self.valid_contact_id(i)]
        for start in range(0, len(wanted), ID_CHUNK):
            chunk = wanted[start:start + ID_CHUNK]
            params = {"IDs": ",".join(chunk), "includeArchived": "true", "page": 1}
            rows = self.api.request("GET", "Contacts", params=params).json().get("Contacts") or []
            by_id = {row["ContactID"].lower(): row for row in rows}
            for asked in chunk:
                yield asked, by_id.get(asked.lower())

    def find_by_name(self, name: str) -> Contact | None:
        wanted = name.strip()
        where = f'{ACTIVE}&&Name=="{mapping.escape_where(wanted)}"'
        # The where comparison is expected to ignore case like the uniqueness rule; should it
        # not, the case-insensitive searchTerm (spec) finds the contact the clash was about.
        for params in ({"where": where}, {"where": ACTIVE, "searchTerm": wanted}):
            for element in self.pages(params):
                if same_name(element.get("Name") or "", wanted):
                    return self._contact(element)
        return None

    def search(self, text: str, *, limit: int = 10) -> list[Contact]:
        wanted = text.strip().casefold()
        found: list[Contact] = []
        for element in self.pages({"where": ACTIVE, "searchTerm": text.strip()}):
            # searchTerm also matches e-mail and contact number; interface §7 asks for names.
            if wanted in (element.get("Name") or "").casefold():
                found.append(self._contact(element))
            if len(found) >= limit:
                break
        return found

    def list_contacts(self) -> Iterator[tuple[Contact, ContactFields]]:
        for element in self.pages({"where": ACTIVE, "order": "Name ASC"}, batch=True):
            yield self._contact(element), mapping.fields_from(element)

    def pages(self, params: dict[str, Any], *, batch: bool = False) -> Iterator[dict[str, Any]]:
        """Rows of GET /Contacts page by page, fetched lazily (a caller that stops early saves calls)."""
        page = 1
        while True:
            payload = self.api.request(
                "GET", "Contacts", params={**params, "page": page}, batch=batch).json()
            rows = payload.get("Contacts") or []
            yield from rows
            page_count = (payload.get("pagination") or {}).get("pageCount")
            if len(rows) < PAGE_SIZE or (page_count is not None and page >= page_count):
                return
            page += 1

    # -- writes -------------------------------------------------------------------------
    def create_contact(self, fields: ContactFields, *, idempotency_key: str,
                       extras: Extras | None = None) -> Contact:
        try:
            element = self._write("PUT", "Contacts", [_payload(fields, extras)], idempotency_key)[0]
            return self._element_contact(element)
        except AccountNumberClash as clash:
            raise holders.explained(self, clash, fields.account_number) from clash

    def update_contact(self, contact_id: str, fields: ContactFields, *, idempotency_key: str,
                       extras: Extras | None = None) -> Contact:
        if not self.valid_contact_id(contact_id):
            raise ContactNotFound(f"not a Xero contact id: {contact_id!r}", system="xero")
        path = f"Contacts/{contact_id.strip()}"
        try:
            element = self._write("POST", path, [_payload(fields, extras)], idempotency_key)[0]
            return self._element_contact(element)
        except AccountNumberClash as clash:
            raise holders.explained(self, clash, fields.account_number) from clash

    def create_contacts(self, batch: list[tuple[ContactFields, str]], *,
                        extras: Sequence[Extras | None] | None = None) -> list[BatchResult]:
        items = with_extras(batch, extras)
        results: list[BatchResult] = []
        for start in range(0, len(items), self.max_batch):
            results += self._create_chunk(items[start:start + self.max_batch])
        return results

    def _create_chunk(self, chunk: list[tuple[ContactFields, str, Extras | None]]) -> list[BatchResult]:
        # Each element's body as a lone create builds it (``_payload``): defaults included.
        payloads = [_payload(fields, added) for fields, _, added in chunk]
        scope = "batch\n" + "\n".join(scope for _, scope, _ in chunk)
        try:
            elements = self._write("PUT", "Contacts", payloads, scope, batch=True)
        except Rejected as error:
            # The whole request refused (a 400 that names no element): halve it until the
            # element at fault stands alone, so the others are still created (as QuickBooks'
            # batch does), instead of failing every event in it.
            if len(chunk) == 1:
                return [BatchResult(error=self._named(error, chunk[0][0]))]
            middle = len(chunk) // 2
            return self._create_chunk(chunk[:middle]) + self._create_chunk(chunk[middle:])
        if len(elements) != len(chunk):
            raise Transient(f"Xero answered {len(elements)} contacts for {len(chunk)} sent", system="xero")
        return [self._batch_result(element, fields) for element, (fields, _, _) in zip(elements, chunk, strict=True)]

    def _batch_result(self, element: dict[str, Any], fields: ContactFields) -> BatchResult:
        try:
            return BatchResult(contact=self._element_contact(element))
        except Rejected as error:
            return BatchResult(error=self._named(error, fields))

    def _named(self, error: Rejected, fields: ContactFields) -> Rejected:
        """A taken account number with the contact holding it named (one query, after a refusal)."""
        if isinstance(error, AccountNumberClash):
            return holders.explained(self, error, fields.account_number)
        return error

    def _write(self, method: str, path: str, payloads: list[dict[str, Any]], scope: str,
               *, batch: bool = False) -> list[dict[str, Any]]:
        body = mapping.contacts_body(payloads)
        headers = {"Content-Type": "application/json",
                   "Idempotency-Key": idempotency_key(scope, body, length=KEY_LENGTH)}
        response = self.api.request(method, path, params={"summarizeErrors": "false"},
                                    data=body, headers=headers, batch=batch)
        elements = response.json().get("Contacts") or []
        if not elements:
            raise Transient(f"{method} {path}: Xero answered no contact", system="xero")
        return elements

    def _element_contact(self, element: dict[str, Any]) -> Contact:
        if errors.is_refused(element):
            raise errors.element_error(element, status=200)
        return self._contact(element)


def _payload(fields: ContactFields, extras: Extras | None) -> dict[str, Any]:
    payload = mapping.contact_payload(fields)
    return extras.apply("xero", payload) if extras is not None else payload


def _merged_to(element: dict[str, Any]) -> str | None:
    merged_to = element.get("MergedToContactID")
    return merged_to if merged_to and merged_to != mapping.ZERO_ID else None
