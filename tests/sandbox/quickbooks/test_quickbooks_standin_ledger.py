"""The QuickBooks stand-in plays what people do in the web app and sends Intuit's signed
notifications, retried by Intuit's ladder and in order (interface §9–§10)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator

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
