"""The QuickBooks stand-in's query language: filters, escaping, paging, parse errors."""
from __future__ import annotations

import requests

from tests.sandbox.quickbooks.quickbooks_support import TIMEOUT, Company, fault_of


def _names(answer: requests.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [c["DisplayName"] for c in answer.json()["QueryResponse"].get("Customer", [])]


def test_equality_with_escaped_quote_and_backslash(company: Company) -> None:
    # Given
    company.create({"DisplayName": "O'Brien \\ Sons"})
    company.create({"DisplayName": "OBrien Sons"})
    # When the quote and the backslash are escaped as QuickBooks wants
    found = company.query("SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien \\\\ Sons'")
    # Then
    assert _names(found) == ["O'Brien \\ Sons"]


def test_like_matches_case_insensitively_with_percent(company: Company) -> None:
    for name in ("Acme Hire", "Hire Co", "Bravo"):
        company.create({"DisplayName": name})
    found = company.query("select * from Customer where DisplayName LIKE '%hire%' MAXRESULTS 10")
    assert sorted(_names(found)) == ["Acme Hire", "Hire Co"]


def test_select_star_returns_active_customers_only(company: Company) -> None:
    # Given one active and one inactive customer
    company.create({"DisplayName": "Live"})
    gone = company.create({"DisplayName": "Gone"}).json()["Customer"]["Id"]
    requests.post(f"{company.url}/_sandbox/contacts/{gone}/deactivate",
                  json={"tenant": company.realm}, timeout=TIMEOUT)
    # When / Then
    assert _names(company.query("SELECT * FROM Customer")) == ["Live"]
    assert _names(company.query(f"SELECT * FROM Customer WHERE Id = '{gone}'")) == []
    assert _names(company.query("SELECT * FROM Customer WHERE Active = false")) == ["Gone"]


def test_id_in_list_combined_with_and(company: Company) -> None:
    ids = [company.create({"DisplayName": n}).json()["Customer"]["Id"] for n in ("A", "B", "C")]
    found = company.query(
        f"select * from Customer where Id IN ('{ids[0]}', '{ids[2]}') AND DisplayName LIKE '%C%'"
    )
    assert _names(found) == ["C"]


def test_paging_and_count(company: Company) -> None:
    # Given five customers
    for index in range(5):
        company.create({"DisplayName": f"Customer {index}"})
    # When
    page = company.query("select * from Customer ORDERBY Id STARTPOSITION 3 MAXRESULTS 2")
    count = company.query("select count(*) from Customer")
    beyond = company.query("select * from Customer STARTPOSITION 9")
    # Then
    assert _names(page) == ["Customer 2", "Customer 3"]
    assert page.json()["QueryResponse"]["startPosition"] == 3
    assert page.json()["QueryResponse"]["maxResults"] == 2
    assert count.json()["QueryResponse"] == {"totalCount": 5}
    assert beyond.json()["QueryResponse"] == {}


def test_query_may_be_posted_as_application_text(company: Company) -> None:
    company.create({"DisplayName": "Posted"})
    answer = company.call("POST", "query", data="select * from Customer",
                          headers={"Content-Type": "application/text"})
    assert _names(answer) == ["Posted"]


def test_parse_failures_answer_fault_4000(company: Company) -> None:
    for text in (
        "select * from Customer where DisplayName = 'unterminated",
        "select * from Customer where DisplayName = 'O'Brien'",  # unescaped quote
        "select name from Customer",
        "select * from Invoice",
        "select * from Customer where",
    ):
        answer = company.query(text)
        assert answer.status_code == 400, text
        assert fault_of(answer)["code"] == "4000", text
        assert fault_of(answer)["Message"] == "Error parsing query"
