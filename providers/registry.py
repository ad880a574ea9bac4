"""The accounting systems this service knows, by ``provider.kind``, and every table keyed by kind.

Adding a system is its package plus one line in ``PROVIDERS`` (see "Adding an accounting system"
in the README). Everything else the service knows about a system is a class attribute of its
provider class (``providers.base.AccountingProvider``: tenant key, environment prefix, default
URLs, published limits, keep-alive period, contact-id shape, tenant discovery); the tables below
read those attributes live, so no other module keeps a list of kinds.

Classes are imported on first use, not when this module is imported: ``core`` modules read the
tables lazily without an import cycle (provider packages import ``core``).
"""
from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Callable, Generic, Iterator, Mapping, TypeVar

from core.ratelimit import Limits
from providers.base import AccountingProvider, ProviderUrls

#: kind -> "module:Class"
PROVIDERS: dict[str, str] = {
    "xero": "providers.xero:XeroProvider",
    "quickbooks": "providers.quickbooks:QuickBooksProvider",
    "sage": "providers.sage:SageProvider",
}

T = TypeVar("T")


def kinds() -> tuple[str, ...]:
    """The registered kinds, in registration order."""
    return tuple(PROVIDERS)


def provider_class(kind: str) -> type[AccountingProvider]:
    """The provider class for ``kind``; ``KeyError`` for an unknown kind."""
    module_name, class_name = PROVIDERS[kind].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, AccountingProvider)) or cls.kind != kind:
        raise TypeError(f"{PROVIDERS[kind]} is not the AccountingProvider of kind {kind!r}")
    return cls


class Derived(Mapping[str, T], Generic[T]):
    """A read-only table kind -> one fact of each registered provider class, read live.

    Unknown kinds raise ``KeyError`` like a dict; a class registered later is in it at once.
    """

    def __init__(self, fact: Callable[[type[AccountingProvider]], T]) -> None:
        self._fact = fact

    def __getitem__(self, kind: str) -> T:
        return self._fact(provider_class(kind))

    def __iter__(self) -> Iterator[str]:
        return iter(kinds())

    def __len__(self) -> int:
        return len(PROVIDERS)

    def __repr__(self) -> str:
        return f"Derived({dict(self)!r})"


#: Where each kind keeps its tenant in ``provider`` settings (interface §3).
TENANT_KEYS: Derived[str] = Derived(lambda cls: cls.tenant_key)
#: Prefix of each kind's environment variables (interface §2).
ENV_PREFIXES: Derived[str] = Derived(lambda cls: cls.env_prefix)
DEFAULT_URLS: Derived[ProviderUrls] = Derived(lambda cls: cls.default_urls)
PUBLISHED_LIMITS: Derived[Limits] = Derived(lambda cls: cls.published_limits)
KEEPALIVE_IDLE: Derived[timedelta] = Derived(lambda cls: cls.keepalive_idle)
CONTACT_ID_SHAPES: Derived[str] = Derived(lambda cls: cls.contact_id_shape)
TITLES: Derived[str] = Derived(lambda cls: cls.title)


def wrong_tenant_keys(kind: str) -> tuple[str, ...]:
    """The tenant keys of the other kinds: given for ``kind``, each is a mistake (admin API).
    Empty for an unknown kind (the kind itself is refused on its own)."""
    if kind not in PROVIDERS:
        return ()
    own = TENANT_KEYS[kind]
    return tuple(dict.fromkeys(key for key in TENANT_KEYS.values() if key != own))
