"""The QuickBooks stand-in's write rules: names, SyncTokens, requestid replay, masking."""
from __future__ import annotations

import pytest
import requests

from sandbox.runner import ServerThread
from tests.sandbox.quickbooks.quickbooks_support import TIMEOUT, Company, fault_of


def test_ids_increase_and_sync_token_starts_at_zero(company: Company) -> None:
    # Given / When
    first = company.create({"DisplayName": "Acme Hire"}).json()["Customer"]
    second = company.create({"DisplayName": "Bravo Events"}).json()["Customer"]
    # Then
    assert (first["Id"], first["SyncToken"]) == ("1", "0")
    assert int(second["Id"]) > int(first["Id"])
    assert second["Active"] is True and second["domain"] == "QBO"


@pytest.mark.parametrize("entity", ["Vendor", "Employee", "Customer"])
def test_display_name_is_unique_across_the_name_list(company: Company, entity: str) -> None:
    # Given a vendor, an employee or a customer already named so
    existing = company.seed(entity, DisplayName="Acme Hire")
    # When a customer is created with the same name, in another case and with spaces
    answer = company.create({"DisplayName": "  acme HIRE "})
    # Then 6240 names the clashing record
    error = fault_of(answer)
    assert answer.status_code == 400
    assert answer.json()["Fault"]["type"] == "ValidationFault"
    assert error["code"] == "6240"
    assert error["Message"] == "Duplicate Name Exists Error"
    assert error["Detail"] == f"The name supplied already exists. : Id={existing['Id']}"
    assert error["element"] == "DisplayName"


def test_an_inactive_customer_still_holds_its_name(company: Company) -> None:
    # Given a customer made inactive
    existing = company.create({"DisplayName": "Old Co"}).json()["Customer"]
    requests.post(
        f"{company.url}/_sandbox/contacts/{existing['Id']}/deactivate", json={"tenant": company.realm},
        timeout=TIMEOUT,
    )
    # When
    answer = company.create({"DisplayName": "Old Co"})
    # Then
    assert fault_of(answer)["Detail"].endswith(f"Id={existing['Id']}")


def test_sparse_update_moves_the_sync_token_and_a_stale_one_fails(company: Company) -> None:
    # Given
    created = company.create({"DisplayName": "Acme", "PrimaryEmailAddr": {"Address": "a@acme.test"}}).json()
    customer_id = created["Customer"]["Id"]
    # When
    updated = company.create({"Id": customer_id, "SyncToken": "0", "sparse": True, "Notes": "hi"})
    stale = company.create({"Id": customer_id, "SyncToken": "0", "sparse": True, "Notes": "again"})
    # Then
    assert updated.json()["Customer"]["SyncToken"] == "1"
    assert updated.json()["Customer"]["PrimaryEmailAddr"] == {"Address": "a@acme.test"}
    assert stale.status_code == 400
    assert fault_of(stale)["code"] == "5010"
    assert fault_of(stale)["Message"] == "Stale Object Error"


def test_sparse_empties_clear_and_a_full_update_nulls_omitted_fields(company: Company) -> None:
    # Given
    body = {"DisplayName": "Acme", "Notes": "n", "PrimaryEmailAddr": {"Address": "a@acme.test"},
            "BillAddr": {"Line1": "1 High St", "City": "Leeds"}}
    customer_id = company.create(body).json()["Customer"]["Id"]
    # When an emptied field is sent sparse, then a full update omits Notes
    sparse = company.create({"Id": customer_id, "SyncToken": "0", "sparse": True,
                             "PrimaryEmailAddr": {"Address": ""}, "BillAddr": {"Line1": "2 Low St", "City": ""}})
    full = company.create({"Id": customer_id, "SyncToken": "1", "DisplayName": "Acme"})
    # Then
    after_sparse = sparse.json()["Customer"]
    assert "PrimaryEmailAddr" not in after_sparse and after_sparse["Notes"] == "n"
    assert after_sparse["BillAddr"]["Line1"] == "2 Low St" and "City" not in after_sparse["BillAddr"]
    assert "Notes" not in full.json()["Customer"] and "BillAddr" not in full.json()["Customer"]


def test_a_repeated_requestid_replays_the_original_answer(company: Company) -> None:
    # Given a create sent with a requestid
    first = company.create({"DisplayName": "Acme"}, requestid="r-1", minorversion="75")
    # When the same requestid comes again, even with another body
    again = company.create({"DisplayName": "Something Else"}, requestid="r-1", minorversion="75")
    other = company.create({"DisplayName": "Acme"}, requestid="r-2")
    # Then the first answer is replayed and nothing new is written
    assert again.status_code == 200 and again.json() == first.json()
    assert fault_of(other)["code"] == "6240"
    assert len(company.customers()) == 1
    assert company.app.extensions["sandbox"].store.minorversions["75"] >= 2


def test_tax_identifier_is_masked_but_kept(company: Company) -> None:
    # When
    customer = company.create({"DisplayName": "Acme", "PrimaryTaxIdentifier": "GB123456789"}).json()["Customer"]
    # Then
    assert customer["PrimaryTaxIdentifier"] == "XXXXXX56789"
    raw = company.app.extensions["sandbox"].store.raw(company.realm, customer["Id"])
    assert raw["PrimaryTaxIdentifier"] == "GB123456789"


@pytest.mark.parametrize("name", ["Acme: Hire", "Acme\tHire", "Acme\nHire"])
def test_colon_tab_and_newline_are_refused_in_display_name(company: Company, name: str) -> None:
    answer = company.create({"DisplayName": name})
    assert answer.status_code == 400
    assert answer.json()["Fault"]["type"] == "ValidationFault"
    assert fault_of(answer)["element"] == "DisplayName"
    assert company.customers() == []


def test_over_long_phone_and_unknown_property_are_refused(company: Company) -> None:
    too_long = company.create({"DisplayName": "Acme", "PrimaryPhone": {"FreeFormNumber": "1" * 31}})
    unknown = company.create({"DisplayName": "Acme", "AcctNum": "A1"})
    assert fault_of(too_long)["code"] == "2050"
    assert fault_of(unknown)["code"] == "2010"


def test_read_by_id_sees_inactive_customers_and_610_for_missing(company: Company) -> None:
    # Given
    customer_id = company.create({"DisplayName": "Acme"}).json()["Customer"]["Id"]
    requests.post(f"{company.url}/_sandbox/contacts/{customer_id}/deactivate",
                  json={"tenant": company.realm}, timeout=TIMEOUT)
    vendor = company.seed("Vendor", DisplayName="Supplies Ltd")
    # When
    read = company.call("GET", f"customer/{customer_id}")
    missing = company.call("GET", "customer/999")
    vendor_as_customer = company.call("GET", f"customer/{vendor['Id']}")
    vendor_read = company.call("GET", f"vendor/{vendor['Id']}")
    # Then
    assert read.json()["Customer"]["Active"] is False
    assert fault_of(missing)["code"] == "610"
    assert fault_of(vendor_as_customer)["code"] == "610"
    assert vendor_read.json()["Vendor"]["DisplayName"] == "Supplies Ltd"


def test_realms_are_isolated(shared_server: ServerThread, company: Company) -> None:
    # Given a second company on the same server, with a customer
    other = Company(shared_server)
    customer_id = other.create({"DisplayName": "Theirs"}).json()["Customer"]["Id"]
    # When the first company's token is used on the second's path
    other.access_token = company.access_token
    answer = other.call("GET", f"customer/{customer_id}")
    # Then
    assert answer.status_code == 403
    assert fault_of(answer)["code"] == "3100"
    assert company.create({"DisplayName": "Theirs"}).status_code == 200  # names are per company
