"""Which Xero organisation a fresh consent granted: ``GET /connections`` (providers.md A6).

Called by the connect flow right after the code exchange, through the one HTTP seam
(``providers.http.ApiClient``): the integration's timeouts, rate-limit gate, 401 refresh and
call metrics apply as to every other Xero call.
"""
from __future__ import annotations

from typing import Any

from providers.base import Consent
from providers.http import ApiClient
from providers.xero import errors


def connections_url(api_url: str) -> str:
    """``https://api.xero.com/connections`` beside ``https://api.xero.com/api.xro/2.0``."""
    return api_url.rstrip("/").rsplit("/api.xro/", 1)[0] + "/connections"


class XeroConnections:
    """The newest ORGANISATION connection is the one just granted (a consent may also list
    organisations connected earlier)."""

    def tenant(self, consent: Consent) -> str | None:
        context = consent.context
        api = ApiClient(
            system="xero", base_url=context.api_url, timeout=context.timeout,
            tokens=context.tokens, gate=context.gate, error_for=errors.error_for,
        )
        response = api.request("GET", connections_url(context.api_url))
        try:
            listed: Any = response.json()
        except ValueError:
            return None
        organisations = [
            c for c in (listed if isinstance(listed, list) else [])
            if isinstance(c, dict) and c.get("tenantType") == "ORGANISATION" and c.get("tenantId")
        ]
        if not organisations:
            return None
        newest = max(organisations,
                     key=lambda c: str(c.get("updatedDateUtc") or c.get("createdDateUtc") or ""))
        return str(newest["tenantId"])
