"""The Xero stand-in's web pages for contacts, at the real web app's paths (providers.md A7).

- ``/organisationlogin/default.aspx?shortcode=…&redirecturl=/Contacts/View/{id}`` (Xero's
  deep-link pattern) redirects to the ``redirecturl`` within this stand-in;
- ``/Contacts/View/{ContactID}`` and ``/app/{shortcode}/contacts/contact/{ContactID}`` show the
  contact (looked up across organisations: the real link names none, or only its short code).
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, redirect, request

from sandbox.pages import not_found_page, record_page
from sandbox.xero.state import XeroState

SYSTEM = "Xero"


def install(app: Flask, state: XeroState) -> None:
    @app.get("/organisationlogin/default.aspx")
    def _deep_link() -> Any:
        target = request.args.get("redirecturl", "")
        # Only a path inside this stand-in: never an open redirect.
        if not target.startswith("/") or target.startswith("//"):
            return not_found_page(SYSTEM, "page")
        return redirect(target, 302)

    @app.get("/Contacts/View/<contact_id>")
    @app.get("/app/<shortcode>/contacts/contact/<contact_id>")
    def _contact(contact_id: str, shortcode: str = "") -> Response:
        with state.lock:
            for tenant in state.tenants.values():
                if shortcode and tenant.short_code != shortcode:
                    continue
                contact = tenant.contacts.get(contact_id.lower())
                if contact is not None:
                    return record_page(contact["Name"], SYSTEM, [
                        ("Organisation", tenant.name), ("Contact ID", contact["ContactID"]),
                        ("Status", contact["ContactStatus"]),
                        ("Merged into", contact.get("MergedToContactID")),
                        ("Account number", contact["AccountNumber"]),
                        ("Email", contact["EmailAddress"]), ("Tax number", contact["TaxNumber"]),
                    ])
        return not_found_page(SYSTEM, "contact")
