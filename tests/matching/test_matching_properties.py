"""Properties of the matching rules over generated ledgers (hypothesis): never a guess."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.matching import (
    MATCH_KEYS,
    Candidate,
    ExactlyOne,
    LinkedElsewhere,
    NoMatch,
    Several,
    Subject,
    classify,
    find_match,
)

VALUES = st.sampled_from(["", "Acme", " acme ", "ACME-1", "acme 1", "Beta", "b@x.io", "B@X.IO"])
KEYS = st.lists(st.sampled_from(MATCH_KEYS), min_size=1, max_size=4, unique=True)


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(0, 6))
    return [Candidate(id=f"c{n}", name=draw(VALUES), email=draw(VALUES), account_number=draw(VALUES),
                      tax_number=draw(VALUES), active=draw(st.booleans())) for n in range(count)]


SUBJECT = st.builds(Subject, organisation_id=st.just(1), name=VALUES, email=VALUES,
                    account_number=VALUES, tax_number=VALUES)
LINKED = st.dictionaries(st.sampled_from([f"c{n}" for n in range(6)]), st.sampled_from([1, 2, 3]), max_size=3)


@settings(max_examples=300, deadline=None)
@given(SUBJECT, candidates(), KEYS, LINKED)
def test_find_match_links_only_a_sole_free_active_agreeing_contact(subject, pool, match_on, linked) -> None:
    found = find_match(subject, pool, match_on, linked)
    free = [c for c in pool if c.active and linked.get(c.id) in (None, 1)]
    if isinstance(found, ExactlyOne):
        key = found.key
        agreeing = [c for c in free if subject.value(key) and c.value(key) == subject.value(key)]
        assert agreeing == [found.candidate]
        # no earlier key with a value found anything
        for earlier in match_on[:match_on.index(key)]:
            assert not subject.value(earlier) or not [
                c for c in pool if c.active and c.value(earlier) == subject.value(earlier)]
    elif isinstance(found, Several):
        assert len(found.candidates) >= 2
        assert all(c in free and c.value(found.key) == subject.value(found.key) for c in found.candidates)
    elif isinstance(found, LinkedElsewhere):
        assert found.organisation_id != 1 and linked[found.candidate.id] == found.organisation_id
    else:
        assert found == NoMatch()
        for key in match_on:
            assert not subject.value(key) or not [
                c for c in pool if c.active and c.value(key) == subject.value(key)]


@settings(max_examples=300, deadline=None)
@given(SUBJECT, candidates(), KEYS, LINKED)
def test_classify_full_is_one_candidate_agreeing_on_every_key_with_a_value(subject, pool, match_on, linked) -> None:
    review = classify(subject, pool, match_on, linked)
    wanted = [k for k in match_on if subject.value(k)]
    offered = [s.candidate for s in review.candidates]
    assert all(c.active and linked.get(c.id) in (None, 1) for c in offered)
    if review.kind == "full":
        assert len(offered) == 1 and list(review.candidates[0].matched_on) == wanted
        rivals = [c for c in pool if c.active and linked.get(c.id) in (None, 1) and c is not offered[0]
                  and all(c.value(k) == subject.value(k) for k in wanted)]
        assert rivals == []
    elif review.kind == "partial":
        assert offered and all(s.matched_on for s in review.candidates)
    else:
        assert offered == []
