"""The rental system stand-in's organisation page (issue 16): ``/members/{id}``, the path of
Current RMS's web app (``https://<subdomain>.current-rms.com/members/{id}``). The stand-in serves
every account from one host, so the account is found by the member id (ids are shared by all
accounts, as in one database), or named with ``?subdomain=``."""
from __future__ import annotations

from flask import Flask, Response, request

from sandbox.current_rms.state import RentalState
from sandbox.pages import not_found_page, record_page

SYSTEM = "Current RMS"


def install(app: Flask, state: RentalState) -> None:
    @app.get("/members/<int:member_id>")
    def _member(member_id: int) -> Response:
        wanted = request.args.get("subdomain")
        with state.lock:
            subdomains = [s for s in state.accounts if not wanted or s == wanted]
        for subdomain in subdomains:
            member = state.get_member(subdomain, member_id)
            if member is None:
                continue
            address = member.get("primary_address") or {}
            emails = ", ".join(e.get("address", "") for e in member.get("emails") or [])
            return record_page(str(member.get("name")), SYSTEM, [
                ("Account", subdomain), ("Id", member.get("id")),
                ("Type", member.get("membership_type")),
                ("Active", "yes" if member.get("active", True) else "no"),
                ("Email", emails), ("Street", address.get("street")),
                ("City", address.get("city")), ("Postcode", address.get("postcode")),
            ])
        return not_found_page(SYSTEM, "organisation")
