"""``decide_change``: the pure decision for a change made in the accounting system."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ledger import (
    MAX_MERGE_HOPS,
    ChangeSeen,
    Drift,
    Fail,
    LedgerContact,
    LedgerSituation,
    LinkState,
    MarkBroken,
    OtherLink,
    Reactivate,
    ReadSurvivor,
    Recreate,
    Relink,
    Skip,
    Unchanged,
    WriteBack,
    archive_policy,
    decide_change,
    differing_fields,
    flagged_sync_refusal,
)
from core.models import Contact, ContactFields, Organisation

COMPARED = ("name", "email", "phone", "city", "account_number")
FIELDS = ContactFields(name="Acme Ltd", email="ops@acme.test", phone="0123", city="Leeds",
                       account_number="A1")


def organisation(fields: ContactFields = FIELDS, membership: str = "Organisation") -> Organisation:
    return Organisation(id=7, name=fields.name, membership_type=membership, active=True, fields=fields)


def ledger(contact_id: str = "c1", state: str = "active", fields: ContactFields | None = FIELDS,
           merged_to: str | None = None) -> LedgerContact:
    return LedgerContact(Contact(id=contact_id, name="Acme Ltd", active=state == "active"),
                         state=state, fields=fields, merged_to=merged_to)  # type: ignore[arg-type]


def situation(**changes: object) -> LedgerSituation:
    base = LedgerSituation(
        link=LinkState(7, "Acme Ltd", "c1", FIELDS.digest()), contact=ledger(),
        organisation=organisation(), update_contact_on_edit=True, compared=COMPARED,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_unlinked_contact_is_skipped() -> None:
    assert decide_change(situation(link=None)) == Skip("the contact is not linked to an organisation")


def test_the_echo_of_our_own_write_needs_nothing() -> None:
    # Given the contact equals what we wrote / When decided / Then no call at all
    assert decide_change(situation()) == Unchanged()


def test_a_hand_edit_is_written_back_when_current_rms_wins() -> None:
    edited = replace(FIELDS, email="someone@else.test", city="York")
    step = decide_change(situation(contact=ledger(fields=edited)))
    assert step == WriteBack("c1", ("email", "city"))


def test_a_hand_edit_is_drift_when_the_policy_is_off() -> None:
    edited = replace(FIELDS, phone="999")
    step = decide_change(situation(contact=ledger(fields=edited), update_contact_on_edit=False))
    assert step == Drift(("phone",))


def test_a_write_back_happens_once_per_run() -> None:
    edited = replace(FIELDS, phone="999")
    assert decide_change(situation(contact=ledger(fields=edited), written=True)) == Unchanged()


def test_comparison_ignores_spacing_email_case_and_an_empty_account_number() -> None:
    ours = replace(FIELDS, account_number="", email="Ops@Acme.test")
    theirs = replace(FIELDS, account_number="X9", email="ops@acme.test", name=" Acme  Ltd ")
    assert differing_fields(ours, theirs, COMPARED) == ()


def test_only_compared_fields_count() -> None:
    theirs = replace(FIELDS, tax_number="masked", postcode="LS1")
    assert differing_fields(FIELDS, theirs, COMPARED) == ()


def test_a_merge_reads_the_survivor_then_relinks_and_overwrites() -> None:
    merged = situation(contact=ledger(state="archived", merged_to="c2"))
    assert decide_change(merged) == ReadSurvivor("c2")
    survivor = ledger("c2")
    assert decide_change(replace(merged, survivors=(survivor,))) == Relink(survivor, overwrite=True)


def test_a_merge_without_the_edit_policy_relinks_without_writing() -> None:
    merged = situation(contact=ledger(state="archived", merged_to="c2"), update_contact_on_edit=False,
                       survivors=(ledger("c2"),))
    assert decide_change(merged) == Relink(ledger("c2"), overwrite=False)


def test_a_quickbooks_merge_names_the_survivor_in_the_change() -> None:
    # The merged-away customer is gone: the change itself says where it went (deletedId).
    gone = situation(contact=None, merged_into="c9")
    assert decide_change(gone) == ReadSurvivor("c9")
    assert isinstance(decide_change(replace(gone, survivors=(ledger("c9"),))), Relink)


def test_merge_chains_are_followed() -> None:
    s = situation(contact=ledger(state="archived", merged_to="c2"),
                  survivors=(ledger("c2", "archived", merged_to="c3"),))
    assert decide_change(s) == ReadSurvivor("c3")
    s = replace(s, survivors=(*s.survivors, ledger("c3")))
    step = decide_change(s)
    assert isinstance(step, Relink) and step.survivor.id == "c3"


def test_a_merge_loop_or_a_long_chain_fails() -> None:
    loop = situation(contact=ledger(state="archived", merged_to="c2"),
                     survivors=(ledger("c2", "archived", merged_to="c1"),))
    assert isinstance(decide_change(loop), Fail)
    chain = tuple(ledger(f"x{n}", "archived", merged_to=f"x{n + 1}") for n in range(MAX_MERGE_HOPS))
    long = situation(contact=ledger(state="archived", merged_to="x0"), survivors=chain)
    assert isinstance(decide_change(long), Fail)


def test_a_survivor_linked_elsewhere_fails_naming_both() -> None:
    s = situation(contact=ledger(state="archived", merged_to="c2"), survivors=(ledger("c2"),),
                  survivor_linked_elsewhere=OtherLink(8, "Beta Ltd"))
    step = decide_change(s)
    assert isinstance(step, Fail)
    assert "organisation 7 'Acme Ltd'" in step.reason and "organisation 8 'Beta Ltd'" in step.reason


def test_a_survivor_that_is_archived_too_fails() -> None:
    s = situation(contact=ledger(state="archived", merged_to="c2"), survivors=(ledger("c2", "archived"),))
    assert isinstance(decide_change(s), Fail)


@pytest.mark.parametrize("state", ["archived", "deleted"])
def test_archive_or_delete_flags_the_link_by_default(state: str) -> None:
    step = decide_change(situation(contact=ledger(state=state)))
    assert isinstance(step, MarkBroken)
    assert state in step.reason and "reactivate" in step.reason and "relink" in step.reason


def test_a_contact_gone_entirely_flags_the_link() -> None:
    assert isinstance(decide_change(situation(contact=None)), MarkBroken)


def test_reactivate_policy() -> None:
    s = situation(contact=ledger(state="archived"), on_contact_archived="reactivate")
    assert decide_change(s) == Reactivate("c1")


def test_reactivate_where_the_system_cannot_falls_back_to_flag() -> None:
    s = situation(contact=ledger(state="archived"), on_contact_archived="reactivate", can_reactivate=False)
    step = decide_change(s)
    assert isinstance(step, MarkBroken) and "no way to restore" in step.reason


def test_recreate_policy() -> None:
    s = situation(contact=ledger(state="deleted"), on_contact_archived="recreate")
    assert decide_change(s) == Recreate()


def test_recreate_without_the_organisation_flags() -> None:
    s = situation(contact=ledger(state="deleted"), on_contact_archived="recreate", organisation=None)
    assert isinstance(decide_change(s), MarkBroken)


def test_a_broken_link_whose_contact_is_active_again_is_repaired() -> None:
    s = situation(link=LinkState(7, "Acme Ltd", "c1", FIELDS.digest(), status="broken"))
    assert decide_change(s) == Unchanged(repaired=True)


def test_an_edit_of_a_contact_whose_organisation_is_gone_is_skipped() -> None:
    assert isinstance(decide_change(situation(organisation=None)), Skip)
    person = organisation(membership="Contact")
    assert isinstance(decide_change(situation(organisation=person)), Skip)


def test_archive_policy_defaults_to_flag() -> None:
    assert archive_policy(None) == "flag"
    assert archive_policy({"on_contact_archived": "recreate"}) == "recreate"
    assert archive_policy({"on_contact_archived": "nonsense"}) == "flag"


def test_a_flagged_link_refuses_later_syncs_with_what_to_do() -> None:
    assert flagged_sync_refusal("ok", None) is None
    assert flagged_sync_refusal(None, None) is None
    reason = flagged_sync_refusal("broken", None)
    assert reason is not None and "relink" in reason and "reactivate" in reason
    assert flagged_sync_refusal("broken", "the linked contact c1 was archived") == "the linked contact c1 was archived"


def test_source_event_id_is_the_contact_and_the_stamp_of_the_change() -> None:
    webhook = ChangeSeen("c1", datetime(2026, 12, 5, 10, 0, 0, 120000, tzinfo=timezone.utc), "webhook")
    poll = ChangeSeen("c1", datetime(2026, 12, 5, 10, 0, 0, 120000, tzinfo=timezone.utc), "poll")
    # A later change in the same second (a hand edit right after our write) is a new event.
    later = ChangeSeen("c1", datetime(2026, 12, 5, 10, 0, 0, 987000, tzinfo=timezone.utc), "poll")
    assert webhook.source_event_id() == poll.source_event_id() == "ledger:c1:2026-12-05T10:00:00.120Z"
    assert later.source_event_id() != poll.source_event_id()


contact_states = st.sampled_from(["active", "archived", "deleted"])


@given(state=contact_states, policy=st.sampled_from(["flag", "reactivate", "recreate"]),
       edit=st.booleans(), merged=st.booleans(), linked=st.booleans(), overwrite=st.booleans())
def test_every_situation_gets_exactly_one_sensible_step(
    state: str, policy: str, edit: bool, merged: bool, linked: bool, overwrite: bool,
) -> None:
    fields = replace(FIELDS, city="Elsewhere") if edit else FIELDS
    s = situation(contact=ledger(state=state, fields=fields, merged_to="c2" if merged else None),
                  on_contact_archived=policy, update_contact_on_edit=overwrite,
                  link=LinkState(7, "Acme Ltd", "c1", None) if linked else None)
    step = decide_change(s)
    if not linked:
        assert isinstance(step, Skip)
    elif merged:
        assert step == ReadSurvivor("c2")
    elif state != "active":
        assert isinstance(step, (MarkBroken, Reactivate, Recreate))
    elif not edit:
        assert step == Unchanged()
    else:
        assert isinstance(step, WriteBack if overwrite else Drift)
