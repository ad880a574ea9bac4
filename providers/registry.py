"""The accounting systems this service knows, by ``provider.kind``.

Adding one is a single line here (see "Adding an accounting system" in the README).
Imports are lazy so that a broken optional provider cannot stop the others from loading.
"""
from __future__ import annotations

import importlib

from providers.base import AccountingProvider

#: kind -> "module:Class"
PROVIDERS: dict[str, str] = {
    "xero": "providers.xero:XeroProvider",
    "quickbooks": "providers.quickbooks:QuickBooksProvider",
    "sage": "providers.sage:SageProvider",
}


def provider_class(kind: str) -> type[AccountingProvider]:
    """The provider class for ``kind``; ``KeyError`` for an unknown kind."""
    module_name, class_name = PROVIDERS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)
