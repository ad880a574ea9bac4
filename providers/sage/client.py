"""Sage Business Cloud Accounting v3.1 contacts (providers.md §C).

- Every call names its business in ``X-Business``: the integration's tenant, else the stored
  ``business_id``, else the user's lead business, resolved once (``GET /businesses/lead``) and
  stored with ``save_config`` so that a later change of lead business cannot move the
  integration (Sage multi-business guide: "the lead business may change").
- Sage has no batch endpoints (§C4): ``get_contacts`` and ``create_contacts`` are the base
  class's one call per contact.
- Sage allows duplicate names (no rule documented, §C3), so link-by-name searches first.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Iterator

from core.errors import AccountNumberClash, Rejected
from core.matching import Candidate, several_named
from core.models import Contact, ContactFields, same_name
from core.ratelimit import Limits
from providers.base import AccountingProvider, ProviderContext, ProviderUrls, idempotency_key
from providers.http import ApiClient
from providers.sage import holders, mapping
from providers.sage.errors import SYSTEM, error_for

if TYPE_CHECKING:
    from providers.contact_extras import Extras

#: ``items_per_page`` maximum (swagger: "max 200").
PAGE_SIZE = 200
#: Sage's idempotency_id is "a random 32 character hyphenless GUID".
IDEMPOTENCY_ID_LENGTH = 32
#: Key window: "how long a key is remembered" is not documented (§C3b): UNCONFIRMED. A retry
#: re-sends a create with its idempotency_id only within 5 minutes.
KEY_WINDOW_SECONDS = 5 * 60.0
_CONTACT_ID = re.compile(r"^[0-9a-f]{32}$")
_JSON = {"Content-Type": "application/json"}


class SageProvider(AccountingProvider):
    kind = "sage"
    title = "Sage Business Cloud Accounting"
    csv_column = "Linked Sage contact"
    enforces_unique_names = False
    max_batch = 1
    oauth_scopes = "full_access"
    #: Sage's token endpoint takes client_id and client_secret in the form body (§C6).
    oauth_client_auth = "body"
    tenant_key = "business_id"
    env_prefix = "SAGE"
    default_urls = ProviderUrls(
        api="https://api.accounting.sage.com/v3.1",
        token="https://oauth.accounting.sage.com/token",
        authorize="https://www.sageone.com/oauth2/auth/central?filter=apiv3.1",
    )
    #: v3.1 figures are unconfirmed: 100/min is the lower published figure (v3.0 said 200/60 s).
    #: The unverified 2,500/day is not applied: it would stretch a 10,000-contact export over
    #: four days, while a real daily 429 is handled by ``penalise`` and the event's retry (C5).
    published_limits = Limits(per_minute=100)
    #: Refresh tokens live 31 days (C6).
    keepalive_idle = timedelta(days=7)
    contact_id_shape = "a Sage contact id is 32 hexadecimal digits"
    # No tenant discovery: the lead business is resolved by the provider on first use (C3).
    idempotency_window = KEY_WINDOW_SECONDS

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self.api = ApiClient(
            system=SYSTEM, base_url=context.api_url, timeout=context.timeout,
            tokens=context.tokens, gate=context.gate, error_for=error_for,
        )
        self._business_id: str | None = context.tenant or context.config.get("business_id")

    # -- identity -----------------------------------------------------------------------
    @classmethod
    def valid_contact_id(cls, value: str) -> bool:
        return bool(_CONTACT_ID.match(value.strip()))

    def web_link(self, contact: Contact) -> str | None:
        # Taken from the contact's ``links[]`` when it was read; never built by hand (§C7).
        return mapping.safe_web_address(contact.url, self.context.web_url)

    def to_contact(self, data: dict[str, Any]) -> Contact:
        """A contact of an answer, its web link kept where it is Sage's or ``SAGE_WEB_URL``'s."""
        return mapping.to_contact(data, self.context.web_url)

    # -- reads --------------------------------------------------------------------------
    def get_contact(self, contact_id: str) -> Contact | None:
        if not self.valid_contact_id(contact_id):
            return None
        response = self._call("GET", f"/contacts/{contact_id}", expect=(200, 404))
        if response.status_code == 404:
            return None
        contact = self.to_contact(response.json())
        return contact if contact.active else None

    def find_by_name(self, name: str) -> Contact | None:
        """Sage keeps duplicate names: several active customers of that name are refused,
        naming each, never resolved to the first listed (interface §11)."""
        found = [c for c in (self.to_contact(i) for i in self.pages(
            {"search": name.strip(), "contact_type_id": mapping.CUSTOMER}))
            if c.active and same_name(c.name, name)]
        if len(found) > 1:
            reason = several_named(name, [Candidate(id=c.id, name=c.name, url=c.url) for c in found])
            raise Rejected(reason, system=SYSTEM, reason=reason)
        return found[0] if found else None

    def search(self, text: str, *, limit: int = 10) -> list[Contact]:
        # Sage's ``search`` also matches the reference; the contract asks for names containing
        # the text, so the answer is narrowed to those.
        found: list[Contact] = []
        wanted = text.strip().casefold()
        if limit <= 0:
            return found
        for item in self.pages({"search": text.strip(), "contact_type_id": mapping.CUSTOMER}):
            contact = self.to_contact(item)
            if contact.active and wanted in contact.name.casefold():
                found.append(contact)
            if len(found) >= limit:
                break
        return found

    def list_contacts(self) -> Iterator[tuple[Contact, ContactFields]]:
        params = {"contact_type_id": mapping.CUSTOMER, "nested_attributes": "all"}
        for item in self.pages(params, batch=True):
            contact = self.to_contact(item)
            if contact.active:
                yield contact, mapping.to_fields(item)

    def pages(self, params: dict[str, str], *, batch: bool = False) -> Iterator[dict[str, Any]]:
        """Every item of a ``GET /contacts`` listing. Pages are counted here rather than
        following ``$next``, so no URL from an answer is ever fetched. Activity is checked on
        each item: what ``filter_inactive_contacts=true`` means exactly is unconfirmed."""
        page = 1
        while True:
            query = {**params, "attributes": "all", "items_per_page": PAGE_SIZE, "page": page}
            body = self._call("GET", "/contacts", params=query, batch=batch).json()
            yield from body.get("$items") or []
            if not body.get("$next"):
                return
            page += 1

    # -- writes -------------------------------------------------------------------------
    def create_contact(self, fields: ContactFields, *, idempotency_key: str,
                       extras: Extras | None = None) -> Contact:
        body = mapping.contact_body(fields, create=True)
        if extras is not None:
            body = extras.apply(self.kind, body)
        # The idempotency_id travels inside the body it protects, so it cannot hash itself:
        # it is derived from the exact bytes of the body *without* it, then added (Sage
        # idempotency guide: ``{"contact": {"idempotency_id": ...}}``).
        unkeyed = _encode(body)
        body["contact"]["idempotency_id"] = _key(idempotency_key, unkeyed)
        try:
            response = self._call("POST", "/contacts", data=_encode(body), headers=_JSON)
        except AccountNumberClash as clash:
            raise holders.explained(self, clash, fields.account_number) from clash
        return self.to_contact(response.json())

    def update_contact(
        self, contact_id: str, fields: ContactFields, *, idempotency_key: str,
        extras: Extras | None = None,
    ) -> Contact:
        # No idempotency_id on PUT: a PUT is idempotent already, and a remembered key would
        # make Sage replay an old answer (not write) when the same body is sent again after
        # another edit in between, leaving the contact on the newer, wrong state.
        body = mapping.contact_body(fields, create=False)
        if extras is not None:
            body = extras.apply(self.kind, body)
        try:
            response = self._call("PUT", f"/contacts/{contact_id}", data=_encode(body), headers=_JSON)
        except AccountNumberClash as clash:
            raise holders.explained(self, clash, fields.account_number) from clash
        return self.to_contact(response.json())

    # -- the business ---------------------------------------------------------------------
    def business_id(self) -> str:
        if self._business_id is None:
            lead = self.api.request("GET", "/businesses/lead").json()
            self._business_id = str(lead["id"])
            self.context.config["business_id"] = self._business_id
            self.context.save_config({"business_id": self._business_id})
        return self._business_id

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**(kwargs.pop("headers", None) or {}), "X-Business": self.business_id()}
        return self.api.request(method, path, headers=headers, **kwargs)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _key(scope: str, unkeyed_body: bytes) -> str:
    return idempotency_key(scope, unkeyed_body, length=IDEMPOTENCY_ID_LENGTH)
