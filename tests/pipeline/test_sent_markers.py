"""What a create marker stands for (issue 12, "A marker that records what was sent").

- A retry after a lost create answer looks the contact up by every key the create sent: its
  name and its account number. Both sides renamed since (the organisation in the rental
  system, the contact by a person in the accounting system), the number still finds it.
- A marker recording a sent request is cleared only when that request was certainly refused
  or never sent: never by another attempt's cleanup (a later attempt whose own resend never
  went out), and a worker's attempt left open by its death is never erased by the next run's
  wait for the lock.

Real parts: the sandbox's stand-ins with their fault injection, the test Redis, the SQLite
store; each attempt runs through the worker's own entry point ``process_event``.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from core.locks import OrganisationLock
from core.store import events as event_store
from core.store import links
from core.tables import Event, SentCreate, utcnow
from tests.pipeline.pipeline_support import (
    ID_KEYS,
    NAME_KEYS,
    contacts,
    in_thread,
    inject,
    new_organisation,
    xero_hand_edit,
)
from tests.support import PROVIDER_PATHS, create_integration, edit_organisation, send_webhook, wait_for
from workers.processing import process_event

CREATE_PATHS = {"xero": ("PUT", "/Contacts$"), "sage": ("POST", "/contacts$")}
ACCOUNT_KEYS = {"xero": "AccountNumber", "sage": "reference"}


def webhook(client: Any, integration: dict[str, Any], member_id: int, kind: str = "create") -> str:
    response = send_webhook(client, integration, member_id, kind)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["event_id"]


def due_now(rt: Any, event_id: str) -> None:
    """The event's backoff has passed (the retry runs now, not in a few seconds)."""
    with rt.db.session() as session:
        session.execute(update(Event).where(Event.id == event_id).values(next_attempt_at=None))


def past_the_key_window(rt: Any, integration_id: str, organisation_id: int) -> None:
    """The retry comes after the system's idempotency-key window (5 minutes): the identical
    request can no longer be replayed, so the retry must look up what it sent."""
    with rt.db.session() as session:
        session.execute(update(SentCreate).where(
            SentCreate.integration_id == integration_id, SentCreate.organisation_id == organisation_id,
        ).values(sent_at=utcnow() - timedelta(minutes=10)))


def hand_rename(sandbox: Any, kind: str, tenant: str, contact_id: str, name: str) -> None:
    """A person renames the contact in the accounting system (through its API, own token)."""
    if kind == "xero":
        xero_hand_edit(sandbox, tenant, contact_id, {"Name": name})
        return
    import requests

    token = sandbox.control("sage", "tokens", tenant=tenant)["access_token"]
    response = requests.put(
        f"{sandbox.sage}{PROVIDER_PATHS['sage'][0]}/contacts/{contact_id}", json={"contact": {"name": name}},
        headers={"Authorization": f"Bearer {token}", "X-Business": tenant}, timeout=5)
    response.raise_for_status()


# -- the look-up after a lost answer uses the account number it sent --------------------------
@pytest.mark.parametrize("kind", ["xero", "sage"])
def test_a_lost_create_renamed_on_both_sides_is_found_by_the_account_number_it_sent(
    kind: str, client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a create with an account number that reaches the system, its answer lost
    integration = create_integration(client, admin, sandbox, kind)
    member = new_organisation(sandbox, integration["subdomain"])
    number = member["membership"]["number"]
    method, path = CREATE_PATHS[kind]
    inject(sandbox, kind, method=method, path=path, mode="lost", times=1)
    event_id = webhook(client, integration, member["id"])
    assert process_event(rt, event_id) == "retrying"
    made = contacts(sandbox, kind, integration["tenant"])
    assert len(made) == 1 and made[0][ACCOUNT_KEYS[kind]] == number
    made_id = str(made[0][ID_KEYS[kind]])
    # When the organisation is renamed, a person renames the contact too (the name the create
    # sent finds nothing now), and the retry comes after the key window
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"name": member["name"] + " Renamed"})
    hand_rename(sandbox, kind, integration["tenant"], made_id, "Renamed By Hand")
    past_the_key_window(rt, integration["id"], member["id"])
    due_now(rt, event_id)
    assert process_event(rt, event_id) == "succeeded", event_store.get(rt.db, event_id).last_error
    # Then the retry adopted its own contact by the account number: one contact, the
    # organisation's again, linked, and no marker left
    event = event_store.get(rt.db, event_id)
    everything = contacts(sandbox, kind, integration["tenant"])
    assert [str(c[ID_KEYS[kind]]) for c in everything] == [made_id]
    assert everything[0][NAME_KEYS[kind]] == member["name"] + " Renamed"
    assert event.outcome["action"] == "created" and event.outcome["contact_id"] == made_id
    assert links.get(rt.db, integration["id"], member["id"]).contact_id == made_id
    assert not links.has_marker(rt.db, integration["id"], member["id"])


def test_a_stranger_carrying_neither_the_name_nor_the_number_sent_is_never_adopted(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a lost Xero create whose contact a person then deleted (archived), and a stranger
    # named as the organisation is now named
    integration = create_integration(client, admin, sandbox, "xero", policies={"link_existing_by_name": False})
    member = new_organisation(sandbox, integration["subdomain"])
    inject(sandbox, "xero", method="PUT", path="/Contacts$", mode="lost", times=1)
    event_id = webhook(client, integration, member["id"])
    assert process_event(rt, event_id) == "retrying"
    made_id = contacts(sandbox, "xero", integration["tenant"])[0]["ContactID"]
    xero_hand_edit(sandbox, integration["tenant"], made_id, {"ContactStatus": "ARCHIVED"})
    renamed = member["name"] + " Renamed"
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"name": renamed})
    stranger = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                               contact={"Name": renamed, "EmailAddress": "stranger@example.test"})
    # When the retry runs after the key window
    past_the_key_window(rt, integration["id"], member["id"])
    due_now(rt, event_id)
    process_event(rt, event_id)
    # Then the stranger's contact is neither linked nor written
    assert links.by_contact(rt.db, integration["id"], stranger["ContactID"]) is None
    held = [c for c in contacts(sandbox, "xero", integration["tenant"]) if c["ContactID"] == stranger["ContactID"]]
    assert held[0]["EmailAddress"] == "stranger@example.test"


# -- a marker is cleared only for its own request, by a verdict on it -------------------------
def test_a_resend_stopped_before_it_went_out_keeps_the_marker_of_the_create_that_did(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a Xero create (no linking by name) that reached Xero, its answer lost: a marker
    rt.settings = rt.settings.with_overrides(lock_ttl_seconds=1.0)
    integration = create_integration(client, admin, sandbox, "xero", policies={"link_existing_by_name": False})
    member = new_organisation(sandbox, integration["subdomain"])
    inject(sandbox, "xero", method="PUT", path="/Contacts$", mode="lost", times=1)
    event_id = webhook(client, integration, member["id"])
    assert process_event(rt, event_id) == "retrying"
    first = links.marker(rt.db, integration["id"], member["id"])
    assert first is not None and first.attempt == f"{event_id}:1"
    # When the next attempt loses its lock before its resend goes out (the rental system's
    # answer stalls, the lock lapses and another sync takes it): its own request was never sent
    inject(sandbox, "current_rms", method="GET", path="/members", mode="delay", delay=2.5, times=1)
    lock = OrganisationLock(rt.redis, integration_id=integration["id"], organisation_id=member["id"], ttl=30)
    since = time.time()

    def take_over() -> None:
        wait_for(lambda: any(c["at"] >= since and "/members" in c["path"] for c in sandbox.calls("current_rms")),
                 timeout=10)
        time.sleep(0.3)
        rt.redis.delete(lock.key)
        assert lock.acquire()

    thread, box = in_thread(take_over)
    due_now(rt, event_id)
    assert process_event(rt, event_id) == "queued"
    thread.join(10)
    assert box == [None], box
    # Then the marker of the first attempt's create is still there, as it was written
    assert links.marker(rt.db, integration["id"], member["id"]) == first
    # And the next attempt replays that create and adopts its contact: one contact, succeeded
    lock.release()
    due_now(rt, event_id)
    assert process_event(rt, event_id) == "succeeded", event_store.get(rt.db, event_id).outcome
    assert len(contacts(sandbox, "xero", integration["tenant"])) == 1
    assert event_store.get(rt.db, event_id).outcome["action"] == "created"


def test_another_attempts_cleanup_cannot_clear_a_marker(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    # Given a marker written by attempt 1 of an event
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    written = links.put_markers(rt.db, integration["id"], [links.Sending(
        member["id"], _fields(member), idempotency_key="k", attempt="e:1")])
    assert written == {member["id"]: "e:1"}
    # When attempt 2 tries to write its own, then clears what it wrote as never sent
    assert links.put_markers(rt.db, integration["id"], [links.Sending(
        member["id"], _fields(member), idempotency_key="k2", attempt="e:2")]) == {}
    assert links.drop_marker(rt.db, integration["id"], member["id"], attempt="e:2") == 0
    # Then attempt 1's marker stands; only a verdict on attempt 1's own request clears it
    assert links.marker(rt.db, integration["id"], member["id"]).attempt == "e:1"
    assert links.drop_marker(rt.db, integration["id"], member["id"], attempt="e:1") == 1


def _fields(member: dict[str, Any]) -> Any:
    from providers.current_rms.mapping import organisation_from_member

    return organisation_from_member(member).fields


# -- an attempt a killed worker left open is never erased by the next run's wait -------------
def test_a_killed_workers_open_attempt_stays_on_record_when_the_next_run_waits_for_the_lock(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given an event whose worker was killed mid-attempt: its attempt open, its lease lapsed,
    # and its organisation lock not yet expired
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    event_id = webhook(client, integration, member["id"])
    claimed = event_store.claim(rt.db, event_id, lease_seconds=0.1)
    event_store.start_attempt(rt.db, claimed)
    dead = OrganisationLock(rt.redis, integration_id=integration["id"], organisation_id=member["id"], ttl=30)
    assert dead.acquire()
    time.sleep(0.3)
    # When the event is taken over and the run waits for the dead worker's lock
    assert process_event(rt, event_id) == "queued"
    # Then the dead worker's attempt is still on record, closed as failed, and the give-up
    # clock runs from it; the next attempt gets a number of its own
    event = event_store.get(rt.db, event_id)
    history = event_store.attempts_of(rt.db, [event_id])[event_id]
    assert event.attempts == 1 and [a.number for a in history] == [1], (event.attempts, history)
    assert history[0].finished_at is not None and "worker stopped" in (history[0].error or "")
    assert event.first_failure_at is not None
    dead.release()
    due_now(rt, event_id)
    assert process_event(rt, event_id) == "succeeded"
    assert [a.number for a in event_store.attempts_of(rt.db, [event_id])[event_id]] == [1, 2]
