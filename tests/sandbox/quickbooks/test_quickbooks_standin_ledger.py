"""The QuickBooks stand-in plays what people do in the web app and sends Intuit's signed
notifications, retried by Intuit's ladder and in order (interface §9–§10)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox.runner import ServerThread
from tests.clients.conftest import Receiver
from tests.sandbox.quickbooks.quickbooks_support import TIMEOUT, Company, fault_of

VERIFIER = "verifier"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


def _control(company: Company, method: str, path: str, **body: object) -> requests.Response:
    return requests.request(method, f"{company.url}/_sandbox/{path}", timeout=TIMEOUT,
                            json={"tenant": company.realm, **body})


def _subscribe(company: Company, receiver: Receiver) -> None:
    answer = requests.post(f"{company.url}/_sandbox/webhooks", timeout=TIMEOUT,
                           json={"url": receiver.url, "verifier_token": VERIFIER})
    assert answer.status_code == 201


def _entity(delivery: dict) -> dict:
    body = json.loads(delivery["body"])
    [notification] = body["eventNotifications"]
    [entity] = notification["dataChangeEvent"]["entities"]
    return {**entity, "realmId": notification["realmId"]}


def _signed(delivery: dict) -> bool:
    digest = hmac.new(VERIFIER.encode(), delivery["body"], hashlib.sha256).digest()
    return delivery["headers"]["intuit-signature"] == base64.b64encode(digest).decode()


def _new(company: Company, name: str) -> str:
    answer = company.create({"DisplayName": name})
    assert answer.status_code == 200
    return answer.json()["Customer"]["Id"]


def test_edit_deactivate_delete_and_merge_are_notified(company: Company, receiver: Receiver) -> None:
    # Given
    first, second, third = (_new(company, n) for n in ("First", "Second", "Third"))
    _subscribe(company, receiver)
    # When
    _control(company, "PATCH", f"contacts/{first}", Notes="by hand")
    _control(company, "POST", f"contacts/{first}/deactivate")
    _control(company, "POST", "delete", contact_id=third)
    merged = _control(company, "POST", "merge", **{"from": second, "into": first})
    # Then
    entities = [_entity(d) for d in receiver.wait_for(4)]
    assert [(e["operation"], e["id"]) for e in entities] == [
        ("Update", first), ("Update", first), ("Delete", third), ("Merge", first)]
    assert entities[-1]["deletedId"] == second and "deletedId" not in entities[0]
    assert {e["realmId"] for e in entities} == {company.realm}
    assert all(_signed(d) for d in receiver.received)
    assert merged.json()["Customer"]["SyncToken"] == "3"
    for gone in (second, third):
        answer = company.call("GET", f"customer/{gone}")
        assert answer.status_code == 400 and fault_of(answer)["code"] == "610"


def test_merge_and_delete_of_unknown_customers_are_refused(company: Company) -> None:
    kept = _new(company, "Kept")
    assert _control(company, "POST", "merge", **{"from": "99", "into": kept}).status_code == 400
    assert _control(company, "POST", "merge", **{"from": kept, "into": kept}).status_code == 400
    assert _control(company, "POST", "delete", contact_id="99").status_code == 400


def test_a_failed_notification_is_retried_and_later_ones_wait(
        serve: Callable[..., ServerThread], receiver: Receiver) -> None:
    # Given Intuit's ladder shrunk a thousandfold, and a receiver failing twice
    company = Company(serve(webhook_time_scale=0.001))
    _subscribe(company, receiver)
    receiver.statuses = [500, 500]
    # When two customers are made
    first, second = _new(company, "One"), _new(company, "Two")
    # Then the first is retried until acknowledged, and only then the second is sent
    deliveries = receiver.wait_for(4)
    assert [(_entity(d)["id"], d["status"]) for d in deliveries] == [
        (first, 500), (first, 500), (first, 200), (second, 200)]
    listing = requests.get(f"{company.url}/_sandbox/webhooks", timeout=TIMEOUT).json()
    deadline = time.monotonic() + 5
    while any(d["state"] != "delivered" for d in listing["deliveries"]) and time.monotonic() < deadline:
        time.sleep(0.02)
        listing = requests.get(f"{company.url}/_sandbox/webhooks", timeout=TIMEOUT).json()
    assert [d["state"] for d in listing["deliveries"]] == ["delivered", "delivered"]


def test_the_customer_page(company: Company) -> None:
    record = _new(company, "Page & Co")
    page = requests.get(f"{company.url}/app/customerdetail", params={"nameId": record, "realmId": company.realm},
                        timeout=TIMEOUT)
    assert page.status_code == 200 and "Page &amp; Co" in page.text
    missing = requests.get(f"{company.url}/app/customerdetail", params={"nameId": "999999"},
                           timeout=TIMEOUT)
    assert missing.status_code == 404


def test_each_notification_carries_the_customers_own_last_updated_time(company: Company, receiver: Receiver) -> None:
    # Given
    customer_id = _new(company, "Stamped")
    _subscribe(company, receiver)
    # When an API write and a hand edit happen
    written = company.call("POST", "customer", json={"Id": customer_id, "SyncToken": "0", "sparse": True,
                                                      "Notes": "by the app"}).json()["Customer"]
    edited = _control(company, "PATCH", f"contacts/{customer_id}", Notes="by hand").json()["Customer"]
    # Then each notification's lastUpdated is the customer's LastUpdatedTime as that change left it
    entities = [_entity(d) for d in receiver.wait_for(2)]
    assert [e["lastUpdated"] for e in entities] == [written["MetaData"]["LastUpdatedTime"],
                                                   edited["MetaData"]["LastUpdatedTime"]]
    assert written["MetaData"]["LastUpdatedTime"] != edited["MetaData"]["LastUpdatedTime"]


def test_the_clock_control_stamps_changes_in_the_past_beyond_change_data_capture(company: Company) -> None:
    # Given the company's clock moved 40 days back, a customer made and edited then
    moved = requests.post(f"{company.url}/_sandbox/clock", json={"shift_seconds": -40 * 86400}, timeout=TIMEOUT)
    assert moved.status_code == 200
    customer_id = _new(company, "Long Ago")
    _control(company, "PATCH", f"contacts/{customer_id}", Notes="edited long ago")
    assert requests.post(f"{company.url}/_sandbox/clock", json={"shift_seconds": 0}, timeout=TIMEOUT).ok
    [customer] = [c for c in company.customers() if c["Id"] == customer_id]
    stamp = datetime.fromisoformat(customer["MetaData"]["LastUpdatedTime"])
    assert timedelta(days=39) < datetime.now(UTC) - stamp < timedelta(days=41)
    # Then Change Data Capture over its 30 days does not show it
    since = (datetime.now(UTC) - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cdc = company.call("GET", "cdc", params={"entities": "Customer", "changedSince": since}).json()
    assert "Customer" not in cdc["CDCResponse"][0]["QueryResponse"][0]
    # And a bad shift is refused; a reset puts the clock back
    assert requests.post(f"{company.url}/_sandbox/clock", json={"shift_seconds": "soon"}, timeout=TIMEOUT).status_code == 400
