"""``links_broken`` end to end (interface §10 and §12): a contact archived in the accounting
system breaks its link, and the operator is told, signed, by webhook and by email.

Nothing is put in the database by hand: the sandbox Xero archives the contact and sends its
signed webhook to the service served over HTTP, a real worker applies
``on_contact_archived: "flag"``, the scheduler's alert job records the alert and asks a worker
(its ``alerts`` queue) to send it, to a real HTTP receiver and a real SMTP server on loopback.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Iterator

import pytest

from core.store import links
from sandbox.runner import ServerThread
from tests.support import RunningWorker, create_integration, seed_organisation, send_webhook, wait_event, wait_for
from workers import alerts as alert_jobs

SECRET = "whsec-test-secret"  # the alert_config fixture's ALERT_SIGNING_SECRET
WEBHOOK_KEY = "xero-webhook-key-for-the-alert-test"


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    with ServerThread(app) as server:
        yield server.url


def _verified(received: Any) -> dict[str, Any]:
    """What a receiver does: check ``X-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    parts = dict(part.split("=", 1) for part in received.headers["X-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected), "the alert's signature does not verify"
    assert abs(int(parts["t"]) - time.time()) < 300
    return dict(json.loads(received.body))


def test_an_archived_contact_breaks_its_link_and_the_alert_arrives_signed_and_by_email(
    rt: Any, client: Any, admin: Any, sandbox: Any, served: str, alert_config: Any,
    http_receiver: Any, smtp_receiver: Any,
) -> None:
    # Given a Xero integration that flags archived contacts, subscribed to the sandbox Xero's
    # signed webhooks, and an organisation linked to its contact
    integration = create_integration(client, admin, sandbox, "xero", name="Acme to Xero",
                                     policies={"on_contact_archived": "flag"})
    answer = client.patch(f"/api/integrations/{integration['id']}", headers=admin,
                          json={"provider": {"webhook_key": WEBHOOK_KEY}})
    assert answer.status_code == 200, answer.get_json()
    sandbox.control("xero", "webhooks", url=f"{served}/webhooks/xero/{integration['id']}",
                    key=WEBHOOK_KEY, tenant=integration["tenant"])
    member = seed_organisation(sandbox, integration["subdomain"], name="Harbour Lights Ltd")
    with RunningWorker(rt):
        created = send_webhook(client, integration, member["id"], "create").get_json()
        assert wait_event(client, admin, created["event_id"], timeout=40)["status"] == "succeeded"
        contact_id = links.get(rt.db, integration["id"], member["id"]).contact_id

        # When someone archives that contact in Xero
        sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=contact_id)

        # Then Xero's webhook reaches the service and the link is flagged broken, with a reason
        link = wait_for(lambda: (found := links.get(rt.db, integration["id"], member["id"])) is not None
                        and found.status == "broken" and found, timeout=40, what="the broken link")
        assert link.contact_id == contact_id and link.broken_reason

        # And the scheduler's alert job records a links_broken alert and a worker sends it
        assert alert_jobs.check_and_send(rt) >= 1
        wait_for(lambda: http_receiver.received and smtp_receiver.messages, timeout=30,
                 what="the alert at both receivers")

    # The webhook receiver got it signed, naming the integration and the count
    bodies = [_verified(r) for r in http_receiver.received]
    [alert] = [b for b in bodies if b["alert"] == "links_broken"]
    assert alert["integration_id"] == integration["id"] and alert["integration_name"] == "Acme to Xero"
    assert alert["count"] == 1 and "1 link is broken" in alert["text"]
    assert alert["ops_url"].endswith(f"/ops/integrations/{integration['id']}")
    # and the email says the same to every address
    mails = [m for m in smtp_receiver.messages if m[2]["Subject"] == "[alert] links broken: Acme to Xero"]
    assert len(mails) == 1, [m[2]["Subject"] for m in smtp_receiver.messages]
    _, recipients, message = mails[0]
    assert recipients == ["ops@example.test", "oncall@example.test"]
    assert "1 link is broken" in message.get_payload()
    # and GET /api/alerts shows it sent to both
    listed = [a for a in client.get("/api/alerts", headers=admin).get_json()["alerts"] if a["alert"] == "links_broken"]
    assert listed and listed[0]["delivery"]["status"] == "sent"
