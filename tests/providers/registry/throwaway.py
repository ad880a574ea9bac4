"""A throw-away accounting system: only the class facts, for the registry tests."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

from core.models import Contact, ContactFields
from core.ratelimit import Limits
from providers.base import AccountingProvider, ProviderUrls, TenantFromRedirect

KIND = "ledger"


class LedgerProvider(AccountingProvider):
    kind = KIND
    title = "Ledger Books"
    csv_column = "Linked Ledger contact"
    enforces_unique_names = False
    oauth_scopes = "contacts"
    tenant_key = "ledger_id"
    tenant_pattern = r"L-\d{1,9}"
    env_prefix = "LEDGER"
    default_urls = ProviderUrls(
        api="https://api.ledger.invalid/v1", token="https://auth.ledger.invalid/token",
        authorize="https://auth.ledger.invalid/authorize",
    )
    published_limits = Limits(per_minute=7, concurrent=1)
    keepalive_idle = timedelta(days=3)
    contact_id_shape = "a Ledger contact id is L- and digits"
    tenant_discovery = TenantFromRedirect(parameter="ledgerId", pattern=r"L-\d{1,9}")

    @classmethod
    def valid_contact_id(cls, value: str) -> bool:
        return value.startswith("L-")

    def web_link(self, contact: Contact) -> str | None:
        return None

    def get_contact(self, contact_id: str) -> Contact | None:
        raise NotImplementedError("the registry tests make no calls")

    def find_by_name(self, name: str) -> Contact | None:
        raise NotImplementedError("the registry tests make no calls")

    def search(self, text: str, *, limit: int = 10) -> list[Contact]:
        raise NotImplementedError("the registry tests make no calls")

    def list_contacts(self) -> Iterator[tuple[Contact, ContactFields]]:
        raise NotImplementedError("the registry tests make no calls")

    def create_contact(self, fields: ContactFields, *, idempotency_key: str) -> Contact:
        raise NotImplementedError("the registry tests make no calls")

    def update_contact(self, contact_id: str, fields: ContactFields, *, idempotency_key: str) -> Any:
        raise NotImplementedError("the registry tests make no calls")
