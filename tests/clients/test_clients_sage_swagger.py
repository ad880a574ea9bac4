"""The Sage stand-in driven by a Swagger-driven client loaded with Sage's own v3.1 Swagger
(issue 17, gaps 8–10; no maintained Python client for Sage exists).

The client finds each operation by its ``operationId``, checks every request body against the
operation's body schema and every answer against the operation's answer schema (``Contact``,
``Base``), made strict: an answer must carry every attribute ``Contact`` lists (gap 8) and none
it does not. Sage answers unset values as ``null`` (its public examples show ``"email": null``),
which Swagger 2.0 cannot say, so ``null`` is allowed for every attribute.
"""
from __future__ import annotations

import copy
import functools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import requests

from sandbox import sage
from sandbox.runner import ServerThread
from sandbox.sage import fields
from tests.support import SPECS

SWAGGER = json.loads((SPECS / "sage_accounting_v3.1_swagger.json").read_text())
DEFINITIONS = SWAGGER["definitions"]
CONTACT_ATTRIBUTES = set(DEFINITIONS["Contact"]["properties"])


def _closed(node: Any) -> Any:
    """Every object: nullable properties, none beyond those named. ``$ref``s are kept (the
    Swagger's definitions refer to each other, some recursively)."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _closed(value) for key, value in node.items()}
    if isinstance(node.get("properties"), dict):
        node["properties"] = {name: {"anyOf": [value, {"type": "null"}]}
                              for name, value in node["properties"].items()}
        node["additionalProperties"] = False
    return node


CLOSED_DEFINITIONS = {name: _closed(copy.deepcopy(d)) for name, d in DEFINITIONS.items()}


@functools.cache
def _validator(schema_json: str, complete: bool) -> jsonschema.Draft4Validator:
    """Built once per answer schema: the Swagger's definitions are large."""
    return jsonschema.Draft4Validator(_answer_schema(json.loads(schema_json), complete=complete))


def _answer_schema(schema: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    """``schema`` closed and nullable, its references resolved in the closed definitions;
    ``complete``: every property of the top level required."""
    if "$ref" in schema:
        resolved = copy.deepcopy(CLOSED_DEFINITIONS[schema["$ref"].rsplit("/", 1)[-1]])
    else:
        resolved = _closed(copy.deepcopy(schema))
    if complete and "properties" in resolved:
        resolved["required"] = sorted(resolved["properties"])
    return {**resolved, "definitions": CLOSED_DEFINITIONS}


class SwaggerClient:
    """Calls operations by ``operationId``; validates what goes out and what comes back."""

    def __init__(self, server: ServerThread, token: str) -> None:
        self.base = f"{server.url}{SWAGGER['basePath']}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.operations = {op["operationId"]: (path, method, op)
                           for path, item in SWAGGER["paths"].items()
                           for method, op in item.items() if isinstance(op, dict)}

    def call(self, operation_id: str, *, key: str = "", body: dict[str, Any] | None = None,
             complete: bool = True, **params: str) -> requests.Response:
        path, method, op = self.operations[operation_id]
        if body is not None:
            [parameter] = [p for p in op["parameters"] if p.get("in") == "body"]
            request_schema = copy.deepcopy(DEFINITIONS[parameter["schema"]["$ref"].rsplit("/", 1)[-1]])
            # Sage documents idempotency_id outside the Swagger (providers.md C3b): not sent here.
            jsonschema.validate(body, request_schema)
        answer = self.session.request(method.upper(), self.base + path.replace("{key}", key),
                                      json=body, params=params, timeout=5)
        self._check(op, answer, complete=complete)
        return answer

    def _check(self, op: dict[str, Any], answer: requests.Response, *, complete: bool) -> None:
        declared = op["responses"].get(str(answer.status_code))
        if answer.status_code >= 300 or not declared or not declared.get("schema"):
            return
        schema = declared["schema"]
        if schema.get("type") == "array":  # lists come in Sage's envelope, items as declared
            item = _validator(json.dumps(schema["items"]), False)
            for found in answer.json()["$items"]:
                item.validate(found)
            return
        _validator(json.dumps(schema), complete).validate(answer.json())


@pytest.fixture
def client(serve: Any) -> SwaggerClient:
    server = serve(sage.create_app, rate_limit=1000)
    token = requests.post(f"{server.url}/_sandbox/tokens", json={}, timeout=5).json()["access_token"]
    found = SwaggerClient(server, token)
    found.server = server  # type: ignore[attr-defined]
    return found


def _contact(**more: Any) -> dict[str, Any]:
    return {"contact": {"name": "Festival Of Testing", "contact_type_ids": ["CUSTOMER"], **more}}


def test_a_read_carries_all_44_attributes_of_the_swagger(client: SwaggerClient) -> None:
    # When
    created = client.call("postContacts", body=_contact(reference="FOT1"))
    read = client.call("getContactsKey", key=created.json()["id"])
    # Then (both validated against Contact with every attribute required)
    assert created.status_code == 201 and read.status_code == 200
    assert set(read.json()) == CONTACT_ATTRIBUTES and len(CONTACT_ATTRIBUTES) == 44


def test_writable_attributes_are_stored_and_echoed(client: SwaggerClient) -> None:
    # Given every writable attribute the service or its defaults use (gap 9)
    body = _contact(
        reference="FOT2", credit_limit=2500.5, credit_days=30, credit_terms="date_from_invoice",
        currency_id="EUR", notes="net 30", default_sales_ledger_account_id="a1b2",
        bank_account_details={"account_name": "FOT", "iban": "GB00TEST"},
        delivery_address={"address_line_1": "Dock 4", "city": "Hull", "postal_code": "HU1 1AA"},
        tax_treatment={"home_tax": False, "rest_of_world_tax": True},
    )
    # When
    created = client.call("postContacts", body=body).json()
    updated = client.call("putContactsKey", key=created["id"],
                          body={"contact": {"credit_days": 45}}).json()
    read = client.call("getContactsKey", key=created["id"], nested_attributes="all").json()
    # Then
    assert created["credit_limit"] == 2500.5 and created["credit_terms"] == "date_from_invoice"
    assert created["currency"]["id"] == "EUR"
    assert created["default_sales_ledger_account"]["id"] == "a1b2"
    assert created["bank_account_details"]["iban"] == "GB00TEST"
    assert created["tax_treatment"]["rest_of_world_tax"] is True
    assert updated["credit_days"] == 45 and updated["credit_limit"] == 2500.5
    assert read["delivery_address"]["city"] == "Hull"
    assert read["delivery_address"]["is_main_address"] is False


def test_an_unset_currency_reads_as_the_business_currency(client: SwaggerClient) -> None:
    created = client.call("postContacts", body=_contact()).json()
    assert created["currency"]["id"] == fields.BASE_CURRENCY and created["credit_days"] is None


@pytest.mark.parametrize(("attribute", "limit"), [("reference", 10), ("name", 100)])
def test_the_swaggers_max_length_is_enforced(client: SwaggerClient, attribute: str, limit: int) -> None:
    # Given (gap 10: an 11-character reference used to be accepted)
    fits = client.call("postContacts", body=_contact(**{attribute: "R" * limit}))
    # When
    too_long = client.session.post(f"{client.base}/contacts", timeout=5,
                                   json=_contact(**{attribute: "S" * (limit + 1)}))
    # Then
    assert fits.status_code == 201
    assert too_long.status_code == 422
    [error] = too_long.json()
    assert error["$dataCode"] == "RecordInvalid" and error["$source"] == attribute
    assert f"maximum is {limit}" in error["$message"]


def test_the_stand_ins_limits_are_the_swaggers() -> None:
    contact = DEFINITIONS["Contact"]["properties"]
    assert {k: n for k, n in fields.CONTACT_TEXT.items() if n} == \
        {k: v["maxLength"] for k, v in contact.items() if "maxLength" in v and k != "email"}
    address = DEFINITIONS["Address"]["properties"]
    assert {k: n for k, n in fields.ADDRESS_TEXT.items() if n} == \
        {k: v["maxLength"] for k, v in address.items() if "maxLength" in v}
    person = DEFINITIONS["ContactPerson"]["properties"]
    assert fields.PERSON_TEXT == {k: v["maxLength"] for k, v in person.items() if "maxLength" in v}


def test_credit_days_and_currency_are_checked(client: SwaggerClient) -> None:
    for wrong in ({"credit_days": 366}, {"currency_id": "XXX"}, {"credit_terms": "someday"}):
        answer = client.session.post(f"{client.base}/contacts", json=_contact(**wrong), timeout=5)
        assert answer.status_code == 422, wrong
        assert answer.json()[0]["$source"] == next(iter(wrong))


def test_currencies_lookup(client: SwaggerClient) -> None:
    answer = client.call("getCurrencies")
    assert {c["id"] for c in answer.json()["$items"]} >= {"GBP", "EUR", "USD"}


def test_a_duplicate_reference_is_refused(client: SwaggerClient) -> None:
    client.call("postContacts", body=_contact(reference="DUP"))
    answer = client.session.post(f"{client.base}/contacts", timeout=5,
                                 json=_contact(name="Other", reference="dup"))
    assert answer.status_code == 422 and answer.json()[0]["$source"] == "reference"


def test_a_429_is_sages_error_array(serve: Any) -> None:
    server = serve(sage.create_app, rate_limit=1)
    token = requests.post(f"{server.url}/_sandbox/tokens", json={}, timeout=5).json()["access_token"]
    client = SwaggerClient(server, token)
    assert client.call("getContacts").status_code == 200
    refused = client.call("getContacts")
    assert refused.status_code == 429
    assert refused.json()[0]["$severity"] == "error" and int(refused.headers["Retry-After"]) >= 1


def test_lists_validate_with_all_attributes(client: SwaggerClient) -> None:
    for name in ("A", "B"):
        client.call("postContacts", body=_contact(name=name))
    answer = client.call("getContacts", attributes="all")
    assert len(answer.json()["$items"]) == 2
    assert all(set(item) == CONTACT_ATTRIBUTES for item in answer.json()["$items"])


def test_changed_and_deleted_since(client: SwaggerClient) -> None:
    # Given three contacts, then (a second later) one edited by hand, one deleted
    ids = [client.call("postContacts", body=_contact(name=n)).json()["id"] for n in "XYZ"]
    server = client.server  # type: ignore[attr-defined]
    since = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    while datetime.now(UTC) < since:  # bounded: at most one second
        pass
    requests.patch(f"{server.url}/_sandbox/contacts/{ids[0]}", timeout=5,
                   json={"contact": {"notes": "by hand"}})
    requests.post(f"{server.url}/_sandbox/delete", json={"contact_id": ids[1]}, timeout=5)
    stamp = since.isoformat()
    # When
    changed = client.call("getContacts", updated_or_created_since=stamp, attributes="all")
    deleted = client.call("getContacts", deleted_since=stamp, attributes="deleted_at")
    later = client.call("getContacts", deleted_since=(since + timedelta(hours=1)).isoformat())
    # Then
    assert [c["id"] for c in changed.json()["$items"]] == [ids[0]]
    [gone] = deleted.json()["$items"]
    assert gone["id"] == ids[1] and gone["deleted_at"]
    assert later.json()["$items"] == []
    assert client.call("getContactsKey", key=ids[1]).status_code == 404


def test_merge_deletes_the_loser_and_updates_the_survivor(client: SwaggerClient) -> None:
    server = client.server  # type: ignore[attr-defined]
    loser, survivor = (client.call("postContacts", body=_contact(name=n)).json() for n in "LS")
    merged = requests.post(f"{server.url}/_sandbox/merge", timeout=5,
                           json={"from": loser["id"], "into": survivor["id"]})
    assert merged.status_code == 200
    assert client.call("getContactsKey", key=loser["id"]).status_code == 404
    deleted = client.call("getContacts", deleted_since="2000-01-01T00:00:00Z")
    assert [c["id"] for c in deleted.json()["$items"]] == [loser["id"]]


def test_the_contact_page(client: SwaggerClient) -> None:
    server = client.server  # type: ignore[attr-defined]
    created = client.call("postContacts", body=_contact(name="Page <Sage>")).json()
    link = created["links"][0]["href"]
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = requests.get(f"{server.url}/{path}", timeout=5)
    assert page.status_code == 200 and "Page &lt;Sage&gt;" in page.text


def test_the_answer_check_would_catch_a_missing_or_an_invented_attribute(client: SwaggerClient) -> None:
    # Given (a guard on the guard) a real answer
    created = client.call("postContacts", body=_contact()).json()
    check = _validator(json.dumps({"$ref": "#/definitions/Contact"}), True)
    missing = {k: v for k, v in created.items() if k != "credit_limit"}
    invented = {**created, "colour": "red"}
    # Then
    assert not list(check.iter_errors(created))
    assert list(check.iter_errors(missing)) and list(check.iter_errors(invented))
