"""The QuickBooks stand-in's batch endpoint: per-item answers inside a 200, and its size cap."""
from __future__ import annotations

from typing import Callable

from sandbox.runner import ServerThread
from tests.sandbox.quickbooks.quickbooks_support import Company, fault_of


def _item(bid: str, name: str) -> dict[str, object]:
    return {"bId": bid, "operation": "create", "Customer": {"DisplayName": name}}


def test_items_run_serially_and_fail_one_by_one(company: Company) -> None:
    # Given a vendor holding one of the names
    company.seed("Vendor", DisplayName="Taken")
    request = {"BatchItemRequest": [_item("b1", "One"), _item("b2", "Taken"), _item("b3", "One"),
                                    _item("b4", "Bad: name")]}
    # When
    answer = company.call("POST", "batch", json=request, params={"minorversion": "75"})
    # Then the request succeeds and each item carries its own result
    assert answer.status_code == 200
    items = {item["bId"]: item for item in answer.json()["BatchItemResponse"]}
    assert items["b1"]["Customer"]["DisplayName"] == "One"
    assert items["b2"]["Fault"]["Error"][0]["code"] == "6240"
    assert items["b3"]["Fault"]["Error"][0]["code"] == "6240"  # serial: b1 already holds "One"
    assert items["b4"]["Fault"]["type"] == "ValidationFault"
    assert [c["DisplayName"] for c in company.customers()] == ["One"]


def test_batch_update_with_stale_sync_token_fails_that_item(company: Company) -> None:
    customer_id = company.create({"DisplayName": "Acme"}).json()["Customer"]["Id"]
    request = {"BatchItemRequest": [
        {"bId": "u1", "operation": "update", "Customer": {"Id": customer_id, "SyncToken": "0", "sparse": True, "Notes": "a"}},
        {"bId": "u2", "operation": "update", "Customer": {"Id": customer_id, "SyncToken": "0", "sparse": True, "Notes": "b"}},
    ]}
    items = company.call("POST", "batch", json=request).json()["BatchItemResponse"]
    assert items[0]["Customer"]["SyncToken"] == "1"
    assert items[1]["Fault"]["Error"][0]["code"] == "5010"


def test_more_items_than_the_cap_refuse_the_whole_request(serve: Callable[..., ServerThread]) -> None:
    # Given a stand-in whose cap is three items
    company = Company(serve(max_batch_items=3))
    request = {"BatchItemRequest": [_item(f"b{i}", f"Name {i}") for i in range(4)]}
    # When
    answer = company.call("POST", "batch", json=request)
    # Then nothing is written
    assert answer.status_code == 400
    assert fault_of(answer)["code"] == "1040"
    assert company.customers() == []
