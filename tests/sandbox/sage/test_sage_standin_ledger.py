"""What people do in Sage's web app, played through the control routes (interface §9), and the
API's own delete as ``deleted_since`` reports it."""
from __future__ import annotations

import requests


def _customer(name: str, **extra) -> dict:
    return {"contact": {"name": name, "contact_type_ids": ["CUSTOMER"], **extra}}


def test_a_hand_edit_follows_the_apis_rules(api, sage):
    # Given
    first = api.post("/contacts", json=_customer("First", reference="ONE")).json()
    second = api.post("/contacts", json=_customer("Second", reference="TWO")).json()
    # When
    taken = requests.patch(f"{sage.url}/_sandbox/contacts/{second['id']}", timeout=5,
                           json={"contact": {"reference": "one"}})
    too_long = requests.patch(f"{sage.url}/_sandbox/contacts/{second['id']}", timeout=5,
                              json={"contact": {"reference": "ELEVEN-CHAR"}})
    fine = requests.patch(f"{sage.url}/_sandbox/contacts/{second['id']}", timeout=5,
                          json={"contact": {"credit_days": 14}, "is_active": False})
    # Then
    assert taken.status_code == 422 and taken.json()[0]["$source"] == "reference"
    assert too_long.status_code == 422 and too_long.json()[0]["$source"] == "reference"
    assert fine.status_code == 200
    read = api.get(f"/contacts/{second['id']}").json()
    assert read["credit_days"] == 14 and read["is_active"] is False and read["reference"] == "TWO"
    assert api.get(f"/contacts/{first['id']}").json()["reference"] == "ONE"


def test_an_api_delete_is_listed_by_deleted_since(api):
    made = api.post("/contacts", json=_customer("Gone")).json()
    assert api.delete(f"/contacts/{made['id']}").status_code == 204
    listed = api.get("/contacts", params={"deleted_since": "2000-01-01",
                                          "attributes": "deleted_at,is_active"}).json()
    [gone] = listed["$items"]
    assert gone["id"] == made["id"] and gone["deleted_at"] and gone["is_active"] is False
    assert api.get("/contacts").json()["$items"] == []


def test_an_unreadable_date_is_refused(api):
    answer = api.get("/contacts", params={"updated_or_created_since": "yesterday"})
    assert answer.status_code == 422 and answer.json()[0]["$source"] == "updated_or_created_since"


def test_control_routes_answer_404_for_unknown_contacts(sage):
    for method, path, body in (("PATCH", "contacts/nope", {}), ("POST", "delete", {"contact_id": "x"}),
                               ("POST", "merge", {"from": "a", "into": "b"})):
        answer = requests.request(method, f"{sage.url}/_sandbox/{path}", json=body, timeout=5)
        assert answer.status_code == 404, path
