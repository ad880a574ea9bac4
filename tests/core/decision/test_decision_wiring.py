"""``core.decision.decide``: the rules wired in from the ledger (a flagged link) and from
matching (``match_on``, several candidates, ``on_name_clash``), without I/O."""
from __future__ import annotations

from dataclasses import replace

from core.decision import (
    Create,
    CurrentLink,
    Fail,
    LinkTo,
    Lookup,
    LookUpByName,
    Nothing,
    Overwrite,
    Rename,
    decide,
)
from core.errors import NameClash
from core.models import Contact, ContactFields, Policies
from tests.core.decision.test_decision import CONTACT, organisation, situation


def test_a_broken_link_fails_with_what_to_do_where_an_ok_one_overwrites() -> None:
    ok = situation(kind="update", link=CurrentLink("c-1", "an-older-digest"))
    assert isinstance(decide(ok), Overwrite)
    broken = replace(ok, link=CurrentLink("c-1", "an-older-digest", "broken", "archived; reactivate it"))
    assert decide(broken) == Fail("archived; reactivate it")
    unchanged = replace(broken, link=replace(broken.link, fields_hash=organisation().fields.digest()))
    step = decide(replace(unchanged, link=replace(unchanged.link, broken_reason=None)))
    assert isinstance(step, Fail) and "relink" in step.reason
    assert isinstance(decide(replace(unchanged, link=replace(unchanged.link, status="ok"))), Nothing)


def test_match_on_other_keys_looks_up_before_creating_even_where_names_are_unique() -> None:
    assert isinstance(decide(situation()), Create)  # name only: create first, look up on a clash
    by_email = situation(policies={"match_on": ["email", "name"]})
    assert isinstance(decide(by_email), LookUpByName)
    assert isinstance(decide(replace(by_email, by_name=Lookup(None))), Create)
    found = decide(replace(by_email, by_name=Lookup(CONTACT)))
    assert found == LinkTo(CONTACT, overwrite=True)


def test_several_candidates_fail_with_their_reason() -> None:
    s = situation(policies={"match_on": ["email"]}, by_name=Lookup(None, ambiguous="2 contacts match: A; B"))
    assert decide(s) == Fail("2 contacts match: A; B")


def test_suffix_renames_after_a_clash_where_fail_fails() -> None:
    clash = NameClash("taken", existing_id="x-9")
    after = situation(policies={"match_on": ["email"]}, by_name=Lookup(None), clash=clash)
    assert isinstance(decide(after), Fail)
    suffix = replace(after, policies=Policies.from_dict({"match_on": ["email"], "on_name_clash": "suffix"}))
    assert decide(suffix) == Rename()
    renamed = replace(suffix, clash=None, renamed=ContactFields(name="Festival of Testing Ltd (AC-1)"))
    assert decide(renamed) == Create()
    assert isinstance(decide(replace(renamed, clash=clash)), Fail)  # the suffixed name is taken too
    no_link = situation(policies={"link_existing_by_name": False, "on_name_clash": "suffix"},
                        by_name=Lookup(Contact("c-2", "Festival of Testing Ltd")))
    assert decide(no_link) == Rename()


def test_policies_read_match_on_and_on_name_clash_with_their_defaults() -> None:
    assert (Policies().match_on, Policies().on_name_clash) == (("name",), "fail")
    read = Policies.from_dict({"match_on": ["email", "bogus"], "on_name_clash": "suffix"})
    assert (read.match_on, read.on_name_clash) == (("email",), "suffix")
    assert read.to_dict()["match_on"] == ["email"]


def test_a_same_name_contact_that_is_not_the_match_is_suffixed_where_names_may_repeat() -> None:
    taken = Lookup(None, name_taken=Contact("s-1", "Festival of Testing Ltd"))
    sage = situation(names_unique=False, by_name=taken,
                     policies={"match_on": ["email"], "on_name_clash": "suffix"})
    assert decide(sage) == Rename()
    assert decide(replace(sage, policies=Policies.from_dict({"match_on": ["email"]}))) == Create()
