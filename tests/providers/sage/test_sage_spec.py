"""The bodies SageProvider sends validate against ``postContacts`` / ``putContacts`` of Sage's
v3.1 Swagger (``tests/specs``), made strict: every object refuses properties the
spec does not name. The Swagger lacks ``idempotency_id`` (Sage documents it in its idempotency
guide, providers.md §C3b), so it is allowed explicitly, as 32 hex digits."""
from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from core.models import ContactFields
from tests.support import SPECS

SWAGGER = SPECS / "sage_accounting_v3.1_swagger.json"
IDEMPOTENCY_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}

FULL = ContactFields(
    name="Spec Ltd", address_line1="1 Spec St", address_line2="Floor 2", city="Bath", region="Som",
    postcode="BA1 1AA", country_code="GB", email="s@spec.example", phone="1", mobile="2",
    fax="3", tax_number="GB1", account_number="SPEC1",
)
EMPTY = ContactFields(name="Spec Ltd")


def _strict(schema: Any) -> Any:
    """Refuse properties the spec does not name, at every level."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    definitions = json.loads(SWAGGER.read_text())["definitions"]
    strict = {name: _strict(copy.deepcopy(definitions[name]))
              for name in ("postContacts", "putContacts")}
    strict["postContacts"]["properties"]["contact"]["properties"]["idempotency_id"] = IDEMPOTENCY_ID
    return strict


def _sent(stand, method: str) -> list[dict[str, Any]]:
    return [c["json"] for c in stand.calls() if c["method"] == method]


def test_create_bodies_validate_against_post_contacts(provider, stand, schemas):
    # When
    provider.create_contact(FULL, idempotency_key="scope-a")
    provider.create_contact(EMPTY, idempotency_key="scope-b")
    # Then
    bodies = _sent(stand, "POST")
    assert len(bodies) == 2
    for body in bodies:
        jsonschema.validate(body, schemas["postContacts"])


def test_update_bodies_validate_against_put_contacts(provider, stand, schemas):
    # Given
    created = provider.create_contact(FULL, idempotency_key="scope-a")
    # When
    provider.update_contact(created.id, EMPTY, idempotency_key="scope-u1")
    provider.update_contact(created.id, FULL, idempotency_key="scope-u2")
    # Then
    bodies = _sent(stand, "PUT")
    assert len(bodies) == 2
    for body in bodies:
        jsonschema.validate(body, schemas["putContacts"])


def test_the_strict_schemas_do_refuse_what_the_spec_lacks(schemas):
    # Given: what a careless mapping might send
    wrong = [
        {"contact": {"name": "X", "contact_type_ids": ["CUSTOMER"], "email": "x@y.z"}},
        {"contact": {"name": "X", "contact_type_ids": ["CUSTOMER"],
                     "main_address": {"postcode": "X"}}},
        {"contact": {"contact_type_ids": ["CUSTOMER"]}},
        {"contact": {"name": "X", "contact_type_ids": ["CUSTOMER"], "idempotency_id": "a-b"}},
    ]
    # When / Then
    for body in wrong:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, schemas["postContacts"])
