"""The Sage stand-in's contact pages at the web app's paths (providers.md C7):
``/contacts/customers/{numeric id}`` and ``/contacts/vendors/{numeric id}``, the ``alternate``
link of every contact. Under ``python -m sandbox`` the links name this stand-in (its
``web_url``), so they open here."""
from __future__ import annotations

from flask import Flask, Response

from sandbox.pages import not_found_page, record_page
from sandbox.sage.state import SageState

SYSTEM = "Sage Accounting"


def install(app: Flask, state: SageState) -> None:
    @app.get("/contacts/customers/<int:numeric_id>")
    @app.get("/contacts/vendors/<int:numeric_id>")
    def _contact(numeric_id: int) -> Response:
        with state.lock:
            for business_id, contacts in state.contacts.items():
                for record in contacts.values():
                    if record["numeric_id"] != numeric_id:
                        continue
                    person = record["main_contact_person"]
                    return record_page(str(record.get("name")), SYSTEM, [
                        ("Business", state.businesses[business_id].name
                         if business_id in state.businesses else business_id),
                        ("Id", record["id"]), ("Reference", record.get("reference")),
                        ("Active", "yes" if record["is_active"] else "no"),
                        ("Email", person.get("email")), ("Tax number", record.get("tax_number")),
                    ])
        return not_found_page(SYSTEM, "contact")
