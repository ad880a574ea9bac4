"""The organisation -> ContactFields mapping of interface §5, and its reverse for imports."""
from __future__ import annotations

import copy

import pytest

from core.models import ContactFields
from providers.current_rms import member_body, organisation_from_member, split_street


def test_the_reference_sample_maps_field_by_field(sample_member):
    organisation = organisation_from_member(sample_member)
    assert organisation.id == 205100
    assert organisation.name == "The Festival Of Testing"
    assert organisation.membership_type == "Organisation" and organisation.is_organisation
    assert organisation.active is True
    assert organisation.custom_fields == {"linked_contact": ""}
    assert organisation.created_at == "2026-11-20T08:38:09.397Z"
    assert organisation.updated_at == "2026-11-25T10:02:11.120Z"
    assert organisation.fields == ContactFields(
        name="The Festival Of Testing",
        address_line1="Unit 4, Harbour Works",
        address_line2="12 Quay Street",
        city="Auckland",
        region="Auckland",
        postcode="1010",
        country="New Zealand",
        country_code="NZ",
        email="accounts@festivaloftesting.example",
        phone="09 212 3456",
        mobile="021 234 5678",
        fax="09 212 3457",
        tax_number="GB123456789",
        account_number="FOT-001",
    )


def test_a_member_with_nulls_everywhere_maps_to_empty_fields():
    member = {
        "id": 7, "name": None, "membership_type": "Contact", "active": None,
        "membership": None, "primary_address": None, "emails": None, "phones": None,
        "custom_fields": None, "created_at": None, "updated_at": None,
    }
    organisation = organisation_from_member(member)
    assert organisation.fields == ContactFields(name="")
    assert organisation.is_organisation is False
    assert organisation.custom_fields == {}
    assert organisation.created_at == "" and organisation.updated_at == ""


def test_a_bare_member_and_null_sub_objects_map_without_raising():
    bare = organisation_from_member({"id": "12"})
    assert bare.id == 12 and bare.fields == ContactFields(name="") and bare.active is True
    nested_nulls = organisation_from_member({
        "id": 8, "name": " Spaced Ltd ", "membership_type": "Organisation", "active": False,
        "primary_address": {"street": None, "city": None, "country": None, "country_name": None},
        "membership": {"number": None, "tax_number": None},
        "emails": [None, {"address": None, "type_id": 4001}],
        "phones": [{"number": None, "type_id": None, "phone_type_name": None}],
    })
    assert nested_nulls.fields == ContactFields(name="Spaced Ltd")
    assert nested_nulls.active is False


def test_types_are_recognised_by_id_or_name_and_the_first_non_blank_wins(sample_member):
    member = copy.deepcopy(sample_member)
    member["emails"] = [
        {"address": "home@example.com", "type_id": 4002, "email_type_name": "Home"},
        {"address": "  ", "type_id": 4001, "email_type_name": "Work"},
        {"address": " first.work@example.com ", "type_id": 99, "email_type_name": "work"},
        {"address": "second.work@example.com", "type_id": 4001, "email_type_name": "Work"},
    ]
    member["phones"] = [
        {"number": "home", "type_id": 6005, "phone_type_name": "Home"},
        {"number": "cell", "type_id": 77, "phone_type_name": "Cell"},
        {"number": "fax", "type_id": 78, "phone_type_name": "FAX"},
    ]
    fields = organisation_from_member(member).fields
    assert fields.email == "first.work@example.com"
    assert (fields.phone, fields.mobile, fields.fax) == ("", "cell", "fax")


def test_country_falls_back_to_country_name(sample_member):
    member = copy.deepcopy(sample_member)
    member["primary_address"]["country"] = None
    member["primary_address"]["country_name"] = " Ireland "
    fields = organisation_from_member(member).fields
    assert (fields.country, fields.country_code) == ("Ireland", "")


@pytest.mark.parametrize("street, lines", [
    ("", ("", "")),
    ("One line", ("One line", "")),
    ("A\r\nB", ("A", "B")),
    ("  A \n\n B \n C  \n", ("A", "B, C")),
])
def test_street_splits_on_new_lines_with_the_rest_in_line_two(street, lines):
    assert split_street(street) == lines


FIELDS = ContactFields(
    name=" Import Co ", address_line1="1 Main St", address_line2="Suite 2", city="Leeds",
    region="West Yorkshire", postcode="LS1 1AA", country="United Kingdom", country_code="GB",
    email="ap@import.example", phone="0113 000", mobile="07700 900000", fax="",
    tax_number="GB999", account_number="",
)


def test_create_body_is_the_documented_reverse_mapping():
    body = member_body(FIELDS, custom_fields={"linked_contact": "abc"})
    assert body == {"member": {
        "name": "Import Co",
        "membership_type": "Organisation",
        "primary_address_attributes": {
            "street": "1 Main St\nSuite 2", "city": "Leeds", "county": "West Yorkshire",
            "postcode": "LS1 1AA", "country_name": "United Kingdom"},
        "emails_attributes": [{"address": "ap@import.example", "type_id": 4001}],
        "phones_attributes": [{"number": "0113 000", "type_id": 6001},
                              {"number": "07700 900000", "type_id": 6002}],
        "membership_attributes": {"tax_number": "GB999"},  # no empty account number
        "custom_fields": {"linked_contact": "abc"},
    }}


def test_update_body_changes_records_in_place_and_removes_emptied_ones(sample_member):
    body = member_body(FIELDS, existing=sample_member)["member"]
    assert "membership_type" not in body
    assert body["primary_address_attributes"]["id"] == 205200
    assert body["emails_attributes"] == [
        {"id": 148900, "address": "ap@import.example", "type_id": 4001}]
    assert body["phones_attributes"] == [
        {"id": 187100, "number": "0113 000", "type_id": 6001},
        {"id": 187101, "number": "07700 900000", "type_id": 6002},
        {"id": 187102, "_destroy": True},
    ]
    assert body["membership_attributes"] == {"id": 205000, "tax_number": "GB999"}
