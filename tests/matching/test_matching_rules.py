"""The pure matching rules of interface §11: normalisation, find_match and the review classes."""
from __future__ import annotations

import pytest

from core.matching import (
    Candidate,
    ExactlyOne,
    LinkedElsewhere,
    NoMatch,
    Several,
    Subject,
    classify,
    find_match,
    match_on_of,
    normalise,
    valid_match_on,
)


@pytest.mark.parametrize("key, a, b", [
    ("name", "  Acme Ltd ", "ACME LTD"),
    ("name", "Straße GmbH", "STRASSE GMBH"),  # casefold, not lower()
    ("email", "Jo@Acme.Example ", "jo@acme.example"),
    ("account_number", "AB-12 34", "ab1234"),
    ("tax_number", "GB 123.456/789", "gb123456789"),
])
def test_values_that_compare_equal(key: str, a: str, b: str) -> None:
    assert normalise(key, a) == normalise(key, b) != ""


@pytest.mark.parametrize("key, a, b", [
    ("name", "Acme Ltd", "Acme Ltd."),  # names keep their punctuation
    ("name", "Acme  Ltd", "Acme Ltd"),  # and inner spacing (only trimmed)
    ("email", "jo@acme.example", "jo@acme.example.com"),
    ("account_number", "AB12", "AB13"),
])
def test_values_that_differ(key: str, a: str, b: str) -> None:
    assert normalise(key, a) != normalise(key, b)


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError):
        normalise("phone", "1")
    assert valid_match_on(["name", "phone"]) == ["unknown key 'phone'"]
    assert valid_match_on([]) and valid_match_on("name") and valid_match_on(["name", "name"])
    assert valid_match_on(["email", "name"]) == []


def test_match_on_defaults_to_name() -> None:
    assert match_on_of({}) == ("name",)
    assert match_on_of({"match_on": ["tax_number", "email"]}) == ("tax_number", "email")


ORG = Subject(organisation_id=7, name="Acme Ltd", email="ops@acme.example",
              account_number="AC-1", tax_number="GB1")


def c(id_: str, name: str = "Other", **kw: str) -> Candidate:
    return Candidate(id=id_, name=name, url=f"https://ledger.example/{id_}", **kw)


def test_first_key_with_exactly_one_free_contact_links() -> None:
    found = find_match(ORG, [c("1", "acme ltd "), c("2", email="OPS@acme.example")],
                       ["email", "name"], {})
    assert found == ExactlyOne(c("2", email="OPS@acme.example"), "email")


def test_a_key_without_a_value_is_skipped() -> None:
    subject = Subject(organisation_id=7, name="Acme Ltd")
    assert isinstance(find_match(subject, [c("1", "Acme Ltd")], ["email", "name"], {}), ExactlyOne)


def test_several_never_guesses_and_names_them_with_links() -> None:
    found = find_match(ORG, [c("1", "Acme Ltd"), c("2", "ACME LTD")], ["name", "email"], {})
    assert isinstance(found, Several) and found.key == "name"
    reason = found.reason(ORG)
    assert "'Acme Ltd' (1 https://ledger.example/1)" in reason
    assert "https://ledger.example/2" in reason and "organisation 7" in reason


def test_inactive_contacts_are_not_candidates() -> None:
    assert find_match(ORG, [c("1", "Acme Ltd", active=False)], ["name"], {}) == NoMatch()  # type: ignore[arg-type]


def test_linked_elsewhere_fails_naming_both_organisations() -> None:
    found = find_match(ORG, [c("1", "Acme Ltd")], ["name"], {"1": 99})
    assert found == LinkedElsewhere("name", c("1", "Acme Ltd"), 99)
    assert "organisation 99" in found.reason(ORG) and "organisation 7 'Acme Ltd'" in found.reason(ORG)


def test_a_free_contact_wins_over_one_linked_elsewhere() -> None:
    found = find_match(ORG, [c("1", "Acme Ltd"), c("2", "Acme Ltd")], ["name"], {"1": 99})
    assert found == ExactlyOne(c("2", "Acme Ltd"), "name")


def test_a_contact_linked_to_this_organisation_counts_as_free() -> None:
    assert isinstance(find_match(ORG, [c("1", "Acme Ltd")], ["name"], {"1": 7}), ExactlyOne)


def test_nothing_found() -> None:
    assert find_match(ORG, [c("1", "Zeta")], ["name", "email", "tax_number"], {}) == NoMatch()


# -- review classes -------------------------------------------------------------------------
MATCH_ON = ["name", "email"]


def test_full_is_one_candidate_agreeing_on_every_key_with_a_value() -> None:
    review = classify(ORG, [c("1", "Acme Ltd", email="ops@acme.example"), c("2", "Acme Ltd")], MATCH_ON)
    assert review.kind == "full"
    assert [(s.candidate.id, s.matched_on) for s in review.candidates] == [("1", ("name", "email"))]


def test_keys_the_organisation_lacks_do_not_count_against_full() -> None:
    subject = Subject(organisation_id=7, name="Acme Ltd")
    assert classify(subject, [c("1", "Acme Ltd", email="x@y.z")], MATCH_ON).kind == "full"


def test_partial_when_only_some_keys_agree() -> None:
    review = classify(ORG, [c("1", "Acme Ltd", email="other@acme.example")], MATCH_ON)
    assert review.kind == "partial" and review.candidates[0].matched_on == ("name",)


def test_two_full_candidates_are_partial_never_a_guess() -> None:
    both = [c("1", "Acme Ltd", email="ops@acme.example"), c("2", "ACME LTD", email="OPS@acme.example")]
    review = classify(ORG, both, MATCH_ON)
    assert review.kind == "partial" and {s.candidate.id for s in review.candidates} == {"1", "2"}


def test_none_and_candidates_linked_elsewhere_are_not_offered() -> None:
    assert classify(ORG, [c("1", "Zeta")], MATCH_ON).kind == "none"
    assert classify(ORG, [c("1", "Acme Ltd", email="ops@acme.example")], MATCH_ON, {"1": 5}).kind == "none"
