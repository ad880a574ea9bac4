"""``core.decision.decide``: every policy of interface §3 and every rule of §5, without I/O.

Each policy test asks the same question twice with only that policy flipped and expects two
different steps, so a decision that ignored the policy fails it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from core.decision import (
    Create,
    CurrentLink,
    Fail,
    Forget,
    LinkedElsewhere,
    LinkTo,
    Lookup,
    LookUpByName,
    LookUpNamed,
    LookUpSent,
    Nothing,
    Overwrite,
    Resend,
    SentBefore,
    Situation,
    Skip,
    decide,
)
from core.errors import NameClash
from core.models import Contact, ContactFields, Organisation, Policies

ORG_ID, ORG_NAME = 205100, "Festival of Testing Ltd"
CONTACT = Contact("c-1", ORG_NAME, url="https://go.xero.com/c-1")


def organisation(**changes: Any) -> Organisation:
    fields = ContactFields(name=changes.pop("name", ORG_NAME), email="accounts@fot.example", city="Auckland")
    base = Organisation(id=ORG_ID, name=fields.name, membership_type="Organisation", active=True,
                        fields=fields, custom_fields={})
    return replace(base, **changes)


def situation(**changes: Any) -> Situation:
    policies = changes.pop("policies", {})
    base = Situation(kind="create", organisation=organisation(), link=None,
                     policies=Policies.from_dict(policies), names_unique=True)
    return replace(base, **changes)


def linked(*, same_fields: bool, **changes: Any) -> Situation:
    digest = organisation().fields.digest() if same_fields else "an-older-digest"
    return situation(**{"kind": "update", "link": CurrentLink("c-1", digest), **changes})


def step_with(policy: str, value: Any, s: Situation) -> Any:
    return decide(replace(s, policies=replace(s.policies, **{policy: value})))


# --- rule 1: deleted, not an organisation, inactive ------------------------------------------


def test_deleted_member_is_skipped_even_when_linked() -> None:
    assert decide(situation(organisation=None)) == Skip("deleted")
    assert decide(situation(organisation=None, link=CurrentLink("c-1", None))) == Skip("deleted")


@pytest.mark.parametrize("membership_type", ["Contact", "User", "Venue", "organisation", ""])
def test_not_an_organisation_is_skipped_even_when_linked(membership_type: str) -> None:
    member = organisation(membership_type=membership_type)
    assert decide(situation(organisation=member)) == Skip("not an organisation")
    assert decide(situation(organisation=member, link=CurrentLink("c-1", None))) == Skip("not an organisation")


def test_inactive_and_unlinked_is_skipped_whatever_the_policies() -> None:
    s = situation(organisation=organisation(active=False), policies={"create_contact_on_edit_if_unlinked": True})
    assert decide(s) == Skip("inactive")
    assert decide(replace(s, kind="update")) == Skip("inactive")
    named = organisation(active=False, custom_fields={"linked_contact": "c-9"})
    assert decide(situation(organisation=named)) == Skip("inactive")


def test_inactive_but_linked_is_still_overwritten() -> None:
    s = linked(same_fields=False, organisation=organisation(active=False))
    assert decide(s) == Overwrite("c-1")


# --- rule 2: linked_contact_field ----------------------------------------------------------


def test_named_contact_is_looked_up_by_its_value() -> None:
    s = situation(organisation=organisation(custom_fields={"linked_contact": "  c-42  "}))
    assert decide(s) == LookUpNamed("c-42")


def test_linked_contact_field_policy_names_the_field_read() -> None:
    # Given an organisation with a value in "linked_contact" and another in "xero_contact"
    member = organisation(custom_fields={"linked_contact": "by-default", "xero_contact": "by-policy"})
    s = situation(organisation=member)
    # Then the policy decides which one is read, and None reads none (so it creates)
    assert step_with("linked_contact_field", "linked_contact", s) == LookUpNamed("by-default")
    assert step_with("linked_contact_field", "xero_contact", s) == LookUpNamed("by-policy")
    assert step_with("linked_contact_field", None, s) == Create()
    assert step_with("linked_contact_field", "missing_field", s) == Create()


@pytest.mark.parametrize("empty", ["", "   ", None, False])
def test_an_empty_named_field_is_ignored(empty: Any) -> None:
    s = situation(organisation=organisation(custom_fields={"linked_contact": empty}))
    assert decide(s) == Create()


def test_named_field_comes_before_create_and_before_the_create_policy() -> None:
    member = organisation(custom_fields={"linked_contact": "Some Contact"})
    for policies in ({}, {"create_contact_on_create": False}, {"link_existing_by_name": False}):
        assert decide(situation(organisation=member, policies=policies)) == LookUpNamed("Some Contact")
    assert decide(situation(organisation=member, kind="update")) == LookUpNamed("Some Contact")


def test_named_contact_found_is_linked_and_overwritten_per_policy() -> None:
    # Given the named contact was found (by id or by name: the look-up answers either way)
    s = situation(organisation=organisation(custom_fields={"linked_contact": "c-1"}), named=Lookup(CONTACT))
    # Then it is linked, and overwritten only if update_contact_on_edit
    assert step_with("update_contact_on_edit", True, s) == LinkTo(CONTACT, overwrite=True)
    assert step_with("update_contact_on_edit", False, s) == LinkTo(CONTACT, overwrite=False)


def test_named_contact_not_found_fails_with_the_value() -> None:
    s = situation(organisation=organisation(custom_fields={"linked_contact": "Nobody Ltd"}), named=Lookup(None))
    step = decide(s)
    assert isinstance(step, Fail)
    assert "Nobody Ltd" in step.reason and "no contact" in step.reason


def test_named_contact_linked_elsewhere_fails_naming_both_organisations() -> None:
    other = LinkedElsewhere(777, "Other Org Ltd")
    s = situation(organisation=organisation(custom_fields={"linked_contact": "c-1"}), named=Lookup(CONTACT, other))
    step = decide(s)
    assert isinstance(step, Fail)
    for part in ("777", "Other Org Ltd", str(ORG_ID), ORG_NAME, "c-1"):
        assert part in step.reason, part


# --- rule 3: create, or link by name -------------------------------------------------------


def test_create_contact_on_create_policy() -> None:
    s = situation(kind="create")
    assert step_with("create_contact_on_create", True, s) == Create()
    assert step_with("create_contact_on_create", False, s) == Nothing("policy")


def test_create_contact_on_create_does_not_apply_to_an_update() -> None:
    s = situation(kind="update", policies={"create_contact_on_create": True})
    assert decide(s) == Nothing("policy")


def test_create_contact_on_edit_if_unlinked_policy() -> None:
    s = situation(kind="update")
    assert step_with("create_contact_on_edit_if_unlinked", False, s) == Nothing("policy")
    assert step_with("create_contact_on_edit_if_unlinked", True, s) == Create()
    # And it is not a create policy
    create = situation(kind="create", policies={"create_contact_on_create": False})
    assert step_with("create_contact_on_edit_if_unlinked", True, create) == Nothing("policy")


def test_link_existing_by_name_policy_where_names_are_not_unique() -> None:
    # Sage: a create would happily duplicate, so the policy makes it search first
    s = situation(names_unique=False)
    assert step_with("link_existing_by_name", True, s) == LookUpByName()
    assert step_with("link_existing_by_name", False, s) == Create()


def test_same_name_contact_found_is_linked_not_duplicated() -> None:
    s = situation(names_unique=False, by_name=Lookup(CONTACT))
    assert decide(s) == LinkTo(CONTACT, overwrite=True)
    assert step_with("update_contact_on_edit", False, s) == LinkTo(CONTACT, overwrite=False)


def test_no_same_name_contact_then_create() -> None:
    assert decide(situation(names_unique=False, by_name=Lookup(None))) == Create()


def test_unique_names_create_first_then_look_up_on_a_clash() -> None:
    # Xero: create first
    s = situation(names_unique=True)
    assert decide(s) == Create()
    # When the create clashes, the policy decides: look up, or fail telling how to fix it
    clashed = replace(s, clash=NameClash(existing_id="c-1"))
    assert step_with("link_existing_by_name", True, clashed) == LookUpByName()
    refused = step_with("link_existing_by_name", False, clashed)
    assert isinstance(refused, Fail) and "link_existing_by_name" in refused.reason
    # And a look-up that finds the contact links it
    assert decide(replace(clashed, by_name=Lookup(CONTACT))) == LinkTo(CONTACT, overwrite=True)


def test_clash_with_no_active_customer_of_that_name_fails() -> None:
    s = situation(clash=NameClash(existing_id="c-archived"), by_name=Lookup(None))
    step = decide(s)
    assert isinstance(step, Fail)
    assert ORG_NAME in step.reason and "archived" in step.reason


@pytest.mark.parametrize("existing_type", ["Vendor", "Employee"])
def test_clash_with_a_vendor_or_employee_fails_naming_it(existing_type: str) -> None:
    s = situation(clash=NameClash(existing_id="55", existing_type=existing_type), by_name=Lookup(None))
    step = decide(s)
    assert isinstance(step, Fail)
    assert existing_type.lower() in step.reason and "55" in step.reason and ORG_NAME in step.reason
    # Even where linking by name is off, the reason says what holds the name
    off = step_with("link_existing_by_name", False, replace(s, by_name=None))
    assert isinstance(off, Fail) and existing_type.lower() in off.reason


def test_same_name_contact_linked_elsewhere_fails_naming_both_organisations() -> None:
    other = LinkedElsewhere(31337, "Twin Name Org")
    s = situation(names_unique=False, by_name=Lookup(CONTACT, other))
    step = decide(s)
    assert isinstance(step, Fail)
    for part in ("31337", "Twin Name Org", str(ORG_ID), ORG_NAME):
        assert part in step.reason, part


# --- the create marker: find what an interrupted create made, adopt nothing else ------------

SENT = SentBefore(name=ORG_NAME, digest=organisation().fields.digest(), replayable=True)


def test_a_marker_resends_the_identical_create_whatever_the_policies() -> None:
    # Given an earlier attempt that sent a create and never learned its outcome
    policies = {"create_contact_on_create": False, "link_existing_by_name": False,
                "update_contact_on_edit": False}
    s = situation(kind="update", policies=policies)
    # Then it sends that create again (its answer is replayed), where without it it does nothing
    assert decide(replace(s, sent=SENT)) == Resend()
    assert decide(replace(s, sent=None)) == Nothing("policy")


def test_a_marker_past_its_key_window_looks_up_what_was_sent() -> None:
    assert decide(situation(sent=replace(SENT, replayable=False))) == LookUpSent()


def test_the_replayed_contact_is_adopted_as_created_without_a_write_when_nothing_changed() -> None:
    s = situation(sent=SENT, resent=Lookup(CONTACT), policies={"link_existing_by_name": False,
                                                               "update_contact_on_edit": False})
    assert decide(s) == LinkTo(CONTACT, overwrite=False, adopted=True, holds=SENT.digest)


def test_the_replayed_contact_is_overwritten_when_the_organisation_changed_since() -> None:
    # Given a rename between the lost answer and the retry
    s = situation(sent=replace(SENT, digest="what-was-sent-before-the-rename"), resent=Lookup(CONTACT))
    assert decide(s) == LinkTo(CONTACT, overwrite=True, adopted=True)


def test_a_marker_whose_create_made_nothing_is_forgotten() -> None:
    assert decide(situation(sent=SENT, resent=Lookup(None))) == Forget()
    assert decide(situation(sent=replace(SENT, replayable=False), found_sent=Lookup(None))) == Forget()


def test_a_marker_never_adopts_a_contact_linked_elsewhere() -> None:
    s = situation(sent=replace(SENT, replayable=False),
                  found_sent=Lookup(CONTACT, LinkedElsewhere(9, "Nine Ltd")))
    step = decide(s)
    assert isinstance(step, Fail) and "Nine Ltd" in step.reason


# --- rule 4: linked ------------------------------------------------------------------------


def test_update_contact_on_edit_policy() -> None:
    s = linked(same_fields=False)
    assert step_with("update_contact_on_edit", True, s) == Overwrite("c-1")
    assert step_with("update_contact_on_edit", False, s) == Nothing("policy")


def test_an_edit_that_changes_nothing_mapped_writes_nothing() -> None:
    assert decide(linked(same_fields=True)) == Nothing("unchanged")


def test_a_changed_mapped_field_is_written() -> None:
    s = linked(same_fields=True)
    changed = replace(s, organisation=organisation(fields=ContactFields(name=ORG_NAME, city="Wellington")))
    assert decide(changed) == Overwrite("c-1")


def test_a_replay_writes_even_when_nothing_changed() -> None:
    s = linked(same_fields=True)
    assert step_with("update_contact_on_edit", True, replace(s, force_write=True)) == Overwrite("c-1")
    assert decide(replace(s, force_write=False)) == Nothing("unchanged")


def test_a_replay_respects_update_contact_on_edit() -> None:
    s = linked(same_fields=False, force_write=True, policies={"update_contact_on_edit": False})
    assert decide(s) == Nothing("policy")


def test_linked_never_creates_nor_looks_up() -> None:
    s = linked(same_fields=False, kind="create", sent=SENT,
               organisation=organisation(custom_fields={"linked_contact": "c-other"}))
    assert decide(s) == Overwrite("c-1")


def test_a_never_written_link_is_overwritten() -> None:
    # Linked by hand without writing (fields_hash None): the first edit writes
    assert decide(situation(kind="update", link=CurrentLink("c-1", None))) == Overwrite("c-1")


# --- rule 5 ------------------------------------------------------------------------------


def test_nothing_to_do_is_nothing() -> None:
    s = situation(kind="update", policies={"create_contact_on_edit_if_unlinked": False})
    assert decide(s) == Nothing("policy")
