"""The Xero stand-in plays hand edits, archives, erasures and merges, and sends Xero's signed
webhooks about them and about API writes (interface §9–§10)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from sandbox.webhooks import XERO_RETRIES
from tests.clients.conftest import Receiver
from tests.sandbox.xero.conftest import XeroApi

KEY = "webhook-key-of-the-app"


@pytest.fixture
def receiver() -> Receiver:
    found = Receiver()
    yield found
    found.stop()


def _signed_correctly(delivery: dict) -> bool:
    expected = base64.b64encode(hmac.new(KEY.encode(), delivery["body"], hashlib.sha256).digest())
    return delivery["headers"]["x-xero-signature"] == expected.decode()


def _subscribe(xero: XeroApi, receiver: Receiver, **more: str) -> dict:
    answer = xero.control("POST", "webhooks", json={"url": receiver.url, "key": KEY, **more})
    assert answer.status_code == 201
    return answer.json()


def _first_delivery_when(xero: XeroApi, state: str) -> dict:
    """The webhooks listing once the first delivery reached ``state`` (at most 5 s)."""
    deadline = time.monotonic() + 5
    listing = xero.control("GET", "webhooks").json()
    while listing["deliveries"][0]["state"] != state and time.monotonic() < deadline:
        time.sleep(0.02)
        listing = xero.control("GET", "webhooks").json()
    return listing


def _create(xero: XeroApi, name: str) -> str:
    answer = xero.put({"Name": name}, summarizeErrors="true")
    assert answer.status_code == 200
    return answer.json()["Contacts"][0]["ContactID"]


def test_an_api_create_is_sent_as_a_signed_contact_create_event(xero, receiver):
    # Given
    _subscribe(xero, receiver, tenant=xero.tenant)
    # When
    contact_id = _create(xero, "Webhooked")
    # Then
    [delivery] = receiver.wait_for(1)
    assert _signed_correctly(delivery)
    body = json.loads(delivery["body"])
    assert set(body) == {"events", "firstEventSequence", "lastEventSequence", "entropy"}
    [event] = body["events"]
    assert event["resourceId"] == contact_id and event["eventType"] == "CREATE"
    assert event["eventCategory"] == "CONTACT" and event["tenantId"] == xero.tenant
    assert event["resourceUrl"].endswith(f"/api.xro/2.0/Contacts/{contact_id}")
    assert body["firstEventSequence"] == body["lastEventSequence"] == 1


def test_hand_edit_archive_merge_and_delete_each_send_an_update(xero, receiver):
    # Given
    loser, survivor, other = (_create(xero, n) for n in ("Loser", "Survivor", "Other"))
    _subscribe(xero, receiver)
    # When
    edited = xero.control("POST", f"contacts/{other}", json={"tenant": xero.tenant,
                                                             "EmailAddress": "hand@edit.example"})
    merged = xero.control("POST", "merge", json={"tenant": xero.tenant, "from": loser,
                                                  "into": survivor})
    archived = xero.control("POST", "archive", json={"tenant": xero.tenant, "contact_id": survivor})
    deleted = xero.control("POST", "delete", json={"tenant": xero.tenant, "contact_id": other})
    # Then the stand-in holds the changes
    assert edited.json()["EmailAddress"] == "hand@edit.example"
    assert merged.json()["ContactStatus"] == "ARCHIVED"
    assert merged.json()["MergedToContactID"] == survivor
    assert archived.json()["ContactStatus"] == "ARCHIVED"
    assert deleted.status_code == 204
    assert xero("GET", f"/Contacts/{other}").status_code == 404
    read = xero("GET", f"/Contacts/{loser}").json()["Contacts"][0]
    assert read["MergedToContactID"] == survivor
    # and Xero's webhooks told of each, as UPDATE events, numbered in sequence
    deliveries = receiver.wait_for(4)
    bodies = [json.loads(d["body"]) for d in deliveries]
    ids = sorted((b["firstEventSequence"], [e["resourceId"] for e in b["events"]]) for b in bodies)
    assert ids == [(1, [other]), (2, [loser, survivor]), (4, [survivor]), (5, [other])]
    assert {e["eventType"] for b in bodies for e in b["events"]} == {"UPDATE"}
    assert all(_signed_correctly(d) for d in deliveries)


def test_a_hand_edit_to_a_taken_name_is_refused_like_the_api(xero):
    first, second = _create(xero, "First"), _create(xero, "Second")
    answer = xero.control("POST", f"contacts/{second}", json={"tenant": xero.tenant, "Name": "first"})
    assert answer.status_code == 400
    assert xero("GET", f"/Contacts/{first}").json()["Contacts"][0]["Name"] == "First"


def test_control_routes_answer_404_for_an_unknown_contact(xero):
    for path, body in (("archive", {"contact_id": "nope"}), ("delete", {"contact_id": "nope"}),
                       ("merge", {"from": "a", "into": "b"}), ("contacts/nope", {})):
        assert xero.control("POST", path, json={"tenant": xero.tenant, **body}).status_code == 404


def test_a_failed_delivery_is_retried_with_the_same_signed_body(serve, receiver):
    # Given a stand-in whose retry ladder runs a thousand times faster, and a receiver that
    # answers 500 twice
    server = serve(webhook_time_scale=0.0005)
    xero = XeroApi(server.url)
    _subscribe(xero, receiver)
    receiver.statuses = [500, 500]
    # When
    _create(xero, "Retried")
    # Then the third attempt is acknowledged; every attempt carried the same bytes
    deliveries = receiver.wait_for(3)
    assert [d["status"] for d in deliveries] == [500, 500, 200]
    assert len({d["body"] for d in deliveries}) == 1
    assert all(_signed_correctly(d) for d in deliveries)
    listing = _first_delivery_when(xero, "delivered")
    assert listing["deliveries"][0]["state"] == "delivered"
    assert [a["answer"] for a in listing["deliveries"][0]["attempts"]] == [500, 500, 200]


def test_a_webhook_that_keeps_failing_is_disabled_after_the_ladder(serve, receiver):
    # Given a ladder shrunk to milliseconds and a receiver that always fails
    server = serve(webhook_time_scale=0.00001)
    xero = XeroApi(server.url)
    subscription = _subscribe(xero, receiver)
    receiver.statuses = [503] * 100
    # When
    _create(xero, "Never acknowledged")
    receiver.wait_for(len(XERO_RETRIES) + 1)
    listing = _first_delivery_when(xero, "abandoned")
    # Then the delivery is abandoned and the subscription turned off, as Xero does after 24 h
    assert listing["deliveries"][0]["state"] == "abandoned"
    assert listing["subscriptions"] == [{**subscription, "active": False}]
    _create(xero, "Not sent")
    assert len(xero.control("GET", "webhooks").json()["deliveries"]) == 1


def test_intent_to_receive_passes_only_a_receiver_that_checks_signatures(xero, receiver):
    # Given a receiver that answers 200 to everything (it does not check the signature)
    subscription = _subscribe(xero, receiver)
    # When
    check = xero.control("POST", f"webhooks/{subscription['id']}/intent").json()
    # Then
    assert check == {"good_signature": 200, "bad_signature": 200, "ok": False}
    [good, bad] = receiver.wait_for(2)
    assert _signed_correctly(good) and not _signed_correctly(bad)
    assert json.loads(good["body"])["events"] == []
    # and a receiver answering 200 then 401 passes
    receiver.statuses = [200, 401]
    again = xero.control("POST", f"webhooks/{subscription['id']}/intent").json()
    assert again["ok"] is True


def test_a_subscription_for_another_tenant_hears_nothing(xero, receiver, xero_server):
    other = XeroApi(xero_server.url)
    _subscribe(xero, receiver, tenant=other.tenant)
    _create(xero, "Elsewhere")
    _create(other, "Here")
    [delivery] = receiver.wait_for(1)
    assert json.loads(delivery["body"])["events"][0]["tenantId"] == other.tenant


def test_the_contact_page_and_the_deep_link(xero, xero_server):
    # Given
    contact_id = _create(xero, "Page <Owner>")
    short_code = xero.control("GET", "organisation", params={"tenant": xero.tenant}).json()["ShortCode"]
    # When
    link = (f"{xero_server.url}/organisationlogin/default.aspx?shortcode={short_code}"
            f"&redirecturl=/Contacts/View/{contact_id}")
    page = requests.get(link, timeout=5)
    app_page = requests.get(f"{xero_server.url}/app/{short_code}/contacts/contact/{contact_id}",
                            timeout=5)
    # Then
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Page &lt;Owner&gt;" in page.text and contact_id in page.text
    assert app_page.status_code == 200
    assert requests.get(f"{xero_server.url}/Contacts/View/nope", timeout=5).status_code == 404
    outside = requests.get(f"{xero_server.url}/organisationlogin/default.aspx",
                           params={"redirecturl": "//evil.example/"}, timeout=5,
                           allow_redirects=False)
    assert outside.status_code == 404


def test_each_event_is_dated_with_the_contacts_own_updated_date(xero, receiver):
    # Given
    contact_id = _create(xero, "Dated")
    _subscribe(xero, receiver)
    # When an API write and a hand edit happen
    written = xero("POST", f"/Contacts/{contact_id}", json={"Contacts": [{"EmailAddress": "app@x.example"}]})
    edited = xero.control("POST", f"contacts/{contact_id}", json={"tenant": xero.tenant, "Name": "Dated By Hand"})
    # Then each event's eventDateUtc is the contact's UpdatedDateUTC as that change left it
    stamps = [written.json()["Contacts"][0]["UpdatedDateUTC"], edited.json()["UpdatedDateUTC"]]
    dates = [json.loads(d["body"])["events"][0]["eventDateUtc"] for d in receiver.wait_for(2)]
    assert dates == [_event_date(stamp) for stamp in stamps] and dates[0] != dates[1]


def _event_date(msdate: str) -> str:
    """``/Date(1498007739902+0000)/`` as Xero's eventDateUtc shows a moment."""
    ms = int(msdate.split("(")[1].split("+")[0].split(")")[0])
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
