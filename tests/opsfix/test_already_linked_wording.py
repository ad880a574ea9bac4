"""One wording for "this contact is already linked to another organisation": the links CSV,
linking by hand on the ops page and the admin API say what the sync says
(``core.decision.already_linked``)."""
from __future__ import annotations

from typing import Any

from markupsafe import escape

from core.decision import LinkedElsewhere, already_linked
from core.models import Contact, ContactFields, Organisation
from core.store import links
from core.store.links import LinkWrite
from tests.support import create_integration
from tests.webhooks.bulk.test_csv_links_api import post_csv, xero_contact
from tests.webhooks.ops.test_ops_page import sign_in


def _expected(contact_id: str, organisation_id: int, name: str) -> str:
    organisation = Organisation(id=organisation_id, name=name, membership_type="", active=True,
                                fields=ContactFields(name=name))
    return already_linked(Contact(id=contact_id, name="Taken Contact"),
                          LinkedElsewhere(900, "Holder"), organisation)


def test_every_linking_path_words_the_refusal_as_the_sync_does(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    # Given a Xero contact linked to organisation 900 'Holder'
    integration = create_integration(client, admin, sandbox, "xero")
    taken = xero_contact(sandbox, integration, "Taken Contact")
    links.save(rt.db, LinkWrite(integration["id"], 900, "Holder", Contact(id=taken, name="Taken Contact"), None))

    # When the links CSV, the admin API and the ops page each try to link it to another organisation
    body = "\ufeffId;Name;Linked Xero contact\r\n" + f"107;Takes Linked;{taken}\r\n"
    csv_error = post_csv(client, admin, integration, body).get_json()["errors"][0]["error"]
    api = client.put(f"/api/integrations/{integration['id']}/links/108", json={"contact_id": taken}, headers=admin)
    csrf = sign_in(client)
    page = client.post(f"/ops/integrations/{integration['id']}/links", follow_redirects=True,
                       data={"csrf_token": csrf, "organisation_id": "109", "contact_id": taken}).text

    # Then each says it in the sync's words, naming both organisations
    assert csv_error == _expected(taken, 107, "Takes Linked")
    assert api.status_code == 409 and api.get_json()["error"] == _expected(taken, 108, "")
    assert str(escape(_expected(taken, 109, ""))) in page
    assert all(links.get(rt.db, integration["id"], org) is None for org in (107, 108, 109))
