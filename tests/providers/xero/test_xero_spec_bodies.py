"""The bodies XeroProvider sends, and the stand-in's answers, against the official Xero spec.

The spec (tests/specs/xero_accounting.yaml) is loaded as is and its ``$ref``s resolved by
jsonschema against the document itself. ``Contact``, ``Address`` and ``Phone`` are made strict
(no undeclared property) for what we send: Xero refuses unknown and read-only echo elements (A3).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any

import jsonschema
import pytest
import yaml

from core.models import ContactFields
from tests.support import SPECS

SPEC = str(SPECS / "xero_accounting.yaml")
STRICT = ("Contact", "Address", "Phone")
#: Read-only or echo-only properties that must never be sent (spec ``readOnly`` and A3).
NEVER_SENT = {"HasValidationErrors", "StatusAttributeString", "ValidationErrors", "UpdatedDateUTC",
              "IsSupplier", "IsCustomer", "Website", "Discount", "Balances", "HasAttachments"}

FIELDS = ContactFields(
    name="Spec Co", address_line1="1 Spec St", address_line2="Unit 2", city="Nelson", region="Tasman",
    postcode="7010", country="New Zealand", email="spec@spec.test", phone="03 555 0000",
    mobile="027 555 0000", fax="03 555 0001", tax_number="111-222-333", account_number="SPEC-1",
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with open(SPEC, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _validator(spec: dict[str, Any], *, strict: bool) -> jsonschema.Validator:
    components = copy.deepcopy(spec["components"])
    if strict:
        for name in STRICT:
            components["schemas"][name]["additionalProperties"] = False
    document = {"components": components, "$ref": "#/components/schemas/Contacts"}
    return jsonschema.Draft4Validator(document)


def _errors(validator: jsonschema.Validator, body: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]


def _sent_bodies(sandbox) -> list[dict[str, Any]]:
    provider = sandbox.provider()
    created = provider.create_contact(FIELDS, idempotency_key="create")
    provider.update_contact(created.id, dataclasses.replace(FIELDS, email="", account_number=""),
                            idempotency_key="update")
    provider.create_contacts([(dataclasses.replace(FIELDS, name=f"Batch {n}", account_number=""), str(n))
                              for n in range(3)])
    writes = [c for c in sandbox.calls() if c["method"] in ("PUT", "POST")]
    assert [c["method"] for c in writes] == ["PUT", "POST", "PUT"]
    return [c["json"] for c in writes]


def test_create_update_and_batch_bodies_follow_the_contacts_schema(spec, sandbox):
    # Given
    validator = _validator(spec, strict=True)
    # When
    bodies = _sent_bodies(sandbox)
    # Then
    for body in bodies:
        assert _errors(validator, body) == []
        for contact in body["Contacts"]:
            assert not NEVER_SENT & set(contact)
    assert [len(b["Contacts"]) for b in bodies] == [1, 1, 3]


def test_the_strict_schema_would_catch_an_echo_field(spec):
    # Given (a guard on the guard) a body Xero would refuse
    validator = _validator(spec, strict=True)
    body = {"Contacts": [{"Name": "X", "Phones": [{"PhoneType": "WORK"}], "HasValidationErrors": False,
                          "Colour": "red"}]}
    # When
    found = _errors(validator, body)
    # Then the phone type and the undeclared elements are all caught
    assert len(found) >= 2 and any("WORK" in error for error in found)


def test_the_stand_ins_answers_follow_the_contacts_schema(spec, sandbox):
    # Given
    validator = _validator(spec, strict=False)
    provider = sandbox.provider()
    created = provider.create_contact(FIELDS, idempotency_key="create")
    # When
    answers = [
        sandbox.api_json("GET", f"/Contacts/{created.id}"),
        sandbox.api_json("GET", "/Contacts", params={"page": 1}),
    ]
    # Then
    for answer in answers:
        assert _errors(validator, answer) == []
        assert answer["Contacts"][0]["ContactID"] == created.id
