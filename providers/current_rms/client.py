"""The rental-system client: members (organisations) and webhook registrations.

Every call goes through ``providers.http.ApiClient`` (timeouts, the optional gate, metrics,
network/5xx/429 translation); authentication is the API key pair of headers ``X-SUBDOMAIN`` and
``X-AUTH-TOKEN`` (the Current RMS API documentation §2.1), so there is no ``TokenSource``.
"""
from __future__ import annotations

from typing import Any, Iterator

import requests

from core.errors import Rejected, Transient
from core.models import ContactFields, Organisation
from providers.base import CallGate
from providers.current_rms.errors import SYSTEM, error_for
from providers.current_rms.mapping import member_body, organisation_from_member
from providers.http import ApiClient

#: (connect, read) seconds for every call.
DEFAULT_TIMEOUT = (3.05, 20.0)
#: Members asked for per page; the server may answer fewer (its cap is unconfirmed, §2.2).
DEFAULT_PER_PAGE = 100


class CurrentRMS:
    """One Current RMS account (subdomain), reached with its API key."""

    def __init__(self, *, api_url: str, subdomain: str, api_key: str,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 gate: CallGate | None = None) -> None:
        self.subdomain = subdomain
        self.api = ApiClient(
            system=SYSTEM, base_url=api_url, timeout=timeout, gate=gate, error_for=error_for,
            headers={"X-SUBDOMAIN": subdomain, "X-AUTH-TOKEN": api_key},
        )

    # -- members --------------------------------------------------------------------------
    def get_member(self, member_id: int) -> dict[str, Any] | None:
        """The member JSON as the API answers it, or ``None`` when it does not exist."""
        response = self.api.request("GET", f"members/{int(member_id)}", expect=(200, 404))
        return None if response.status_code == 404 else _payload(response, "member")

    def get_organisation(self, member_id: int) -> Organisation | None:
        """The member as an ``Organisation`` (any membership type: see ``is_organisation``),
        or ``None`` when it was deleted (404, interface §5 step 1)."""
        member = self.get_member(member_id)
        return None if member is None else organisation_from_member(member)

    def get_organisations(self, member_ids: list[int]) -> dict[int, Organisation]:
        """Several members at once (``q[id_in][]``, any membership type), paging as the server
        decides; an id missing from every page was deleted. Used when a batch of events is
        synced together, so 50 organisations cost one call instead of 50."""
        wanted = {int(i) for i in member_ids}
        if not wanted:
            return {}
        params = {"filtermode": "all", "per_page": len(wanted), "q[id_in][]": sorted(wanted)}
        found: dict[int, Organisation] = {}
        page = 1
        while True:
            members, total, page_size = self._page({**params, "page": page})
            for member in members:
                organisation = organisation_from_member(member)
                if organisation.id in wanted:
                    found[organisation.id] = organisation
            if not members or len(members) < page_size or (total is not None and page * page_size >= total):
                return found
            page += 1

    def iter_organisations(self, *, updated_since: str | None = None, active_only: bool = True,
                           per_page: int = DEFAULT_PER_PAGE) -> Iterator[Organisation]:
        """Every organisation, page by page, holding one page at a time.

        Pages until a page is empty, shorter than ``meta.per_page``, or
        ``meta.total_row_count`` is reached (reference §2.2: read the cap from ``meta``)."""
        params: dict[str, Any] = {"filtermode": "organisation", "per_page": per_page}
        if updated_since:
            params["q[updated_at_gt]"] = updated_since
        if active_only:
            params["q[active_eq]"] = "true"
        page, seen = 1, 0
        while True:
            members, total, page_size = self._page({**params, "page": page})
            for member in members:
                yield organisation_from_member(member)
            seen += len(members)
            if not members or (total is not None and seen >= total) or len(members) < page_size:
                return
            page += 1

    def create_organisation(self, fields: ContactFields, *,
                            custom_fields: dict[str, Any] | None = None) -> Organisation:
        """Create an organisation from contact fields (bulk import; mapping.member_body)."""
        body = member_body(fields, custom_fields=custom_fields)
        response = self.api.request("POST", "members", json=body, expect=(200, 201))
        return organisation_from_member(_payload(response, "member"))

    def update_organisation(self, member_id: int, *, fields: ContactFields | None = None,
                            custom_fields: dict[str, Any] | None = None) -> Organisation:
        """Overwrite the mapped fields and/or merge custom fields.

        With ``fields`` the member is read first, for the ids of the records to change in
        place. A member that no longer exists raises ``Rejected``."""
        if fields is None and custom_fields is None:
            raise ValueError("update_organisation needs fields or custom_fields")
        if fields is None:
            body: dict[str, Any] = {"member": {"custom_fields": dict(custom_fields or {})}}
        else:
            existing = self.get_member(member_id)
            if existing is None:
                raise Rejected(f"member {member_id} not found", system=SYSTEM, status=404,
                               reason="the organisation no longer exists in Current RMS")
            body = member_body(fields, custom_fields=custom_fields, existing=existing)
        response = self.api.request("PUT", f"members/{int(member_id)}", json=body)
        return organisation_from_member(_payload(response, "member"))

    # -- webhooks -------------------------------------------------------------------------
    def register_webhook(self, *, name: str, event: str, target_url: str) -> int:
        """Register an active webhook (interface §3; lowercase wrapper, reference §1.1)."""
        body = {"webhook": {"name": name, "event": event, "target_url": target_url,
                            "active": True}}
        response = self.api.request("POST", "webhooks", json=body, expect=(200, 201))
        return int(_payload(response, "webhook")["id"])

    def update_webhook(self, webhook_id: int, *, target_url: str) -> None:
        body = {"webhook": {"target_url": target_url}}
        self.api.request("PUT", f"webhooks/{int(webhook_id)}", json=body)

    def delete_webhook(self, webhook_id: int) -> None:
        """Remove a registration; one already gone (404) is fine."""
        self.api.request("DELETE", f"webhooks/{int(webhook_id)}", expect=(200, 204, 404))

    def list_webhooks(self) -> list[dict[str, Any]]:
        response = self.api.request("GET", "webhooks")
        webhooks = _json(response).get("webhooks")
        return webhooks if isinstance(webhooks, list) else []

    # -- paging ---------------------------------------------------------------------------
    def _page(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None, int]:
        """One page's members, ``meta.total_row_count`` (None if absent) and page size."""
        body = _json(self.api.request("GET", "members", params=params))
        members = body.get("members")
        meta = body.get("meta")
        if not isinstance(meta, dict):
            meta = {}
        total, page_size = _count(meta.get("total_row_count")), _count(meta.get("per_page"))
        return (members if isinstance(members, list) else []), total, page_size or 1


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as error:
        raise Transient("Current RMS answered something that is not JSON", system=SYSTEM,
                        status=response.status_code, body=response.text[:500]) from error
    if not isinstance(body, dict):
        raise Transient("Current RMS answered an unexpected JSON shape", system=SYSTEM,
                        status=response.status_code, body=response.text[:500])
    return body


def _payload(response: requests.Response, key: str) -> dict[str, Any]:
    """The ``{"<key>": {...}}`` object of an answer."""
    inner = _json(response).get(key)
    if not isinstance(inner, dict):
        raise Transient(f"Current RMS answered without {key!r}", system=SYSTEM,
                        status=response.status_code, body=response.text[:500])
    return inner
