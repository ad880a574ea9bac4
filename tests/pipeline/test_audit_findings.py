"""Regression tests for the audit of the create and update path (issue 12, findings 1-5).

Real parts throughout: the sandbox's stand-ins on 127.0.0.1 with their fault injection, the
test Redis, the SQLite store; events run in a real Dramatiq worker (``RunningWorker``) or, where
two runs of one event must overlap at a chosen moment, in real threads calling the worker's own
entry point ``process_event``.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from core.locks import OrganisationLock
from core.store import events as event_store
from core.store import integrations as integration_store
from core.store import links
from core.tables import Event, utcnow
from providers import factory
from providers.current_rms.mapping import organisation_from_member
from tests.pipeline.pipeline_support import (
    ID_KEYS,
    NAME_KEYS,
    calls_since,
    contact,
    contacts,
    final,
    in_thread,
    inject,
    named,
    new_organisation,
    set_email,
    xero_hand_edit,
)
from tests.support import (
    RunningWorker,
    create_integration,
    edit_organisation,
    send_webhook,
    wait_for,
)
from workers.processing import process_event


def slow_retries(rt: Any) -> None:
    """A retry waits 2-3 s, so the test can stop the worker and change something before it."""
    rt.settings = rt.settings.with_overrides(retry_min_seconds=3.0, retry_max_seconds=3.0)


def webhook(client: Any, integration: dict[str, Any], member_id: int, kind: str = "update") -> str:
    response = send_webhook(client, integration, member_id, kind)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["event_id"]


# -- 1. Xero updates can be swallowed ----------------------------------------------------------
def test_1_an_email_edited_back_to_its_earlier_value_is_written_to_xero(client: Any, admin: Any, sandbox: Any, rt: Any) -> None:
    # Given a linked Xero contact
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    with RunningWorker(rt, threads=2):
        created = final(rt, webhook(client, integration, member["id"], "create"))
        contact_id = created.outcome["contact_id"]
        # When the organisation's email goes a -> b -> a, one webhook per edit
        for address in ("a@example.test", "b@example.test", "a@example.test"):
            set_email(sandbox, integration["subdomain"], member["id"], address)
            assert final(rt, webhook(client, integration, member["id"])).status == "succeeded"
    # Then the contact holds a, not the b the second write's replayed answer left behind
    assert contact(sandbox, "xero", integration["tenant"], contact_id)["EmailAddress"] == "a@example.test"


def test_1_a_replay_undoes_a_hand_edit_in_xero(client: Any, admin: Any, sandbox: Any, rt: Any) -> None:
    # Given a linked contact that a person then edits by hand in Xero
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    with RunningWorker(rt, threads=2):
        set_email(sandbox, integration["subdomain"], member["id"], "first@example.test")
        first = final(rt, webhook(client, integration, member["id"], "create"))
        contact_id = first.outcome["contact_id"]
        set_email(sandbox, integration["subdomain"], member["id"], "org@example.test")
        edited = webhook(client, integration, member["id"])
        assert final(rt, edited).status == "succeeded"
        xero_hand_edit(sandbox, integration["tenant"], contact_id, {"EmailAddress": "hand@example.test"})
        # When the last event is replayed (the same body as its earlier write)
        assert client.post(f"/api/events/{edited}/replay", headers=admin).status_code == 202
        wait_for(lambda: (e := event_store.get(rt.db, edited)) and e.attempts == 2 and e.status == "succeeded",
                 timeout=20, what="the replay")
    # Then the replay wrote: the contact is the organisation's again
    assert contact(sandbox, "xero", integration["tenant"], contact_id)["EmailAddress"] == "org@example.test"


# -- 2. Rename between a lost create answer and its retry -------------------------------------
CREATE_PATHS = {"xero": ("PUT", "/Contacts$"), "quickbooks": ("POST", "/customer$"), "sage": ("POST", "/contacts$")}


@pytest.mark.parametrize("kind", ["xero", "quickbooks", "sage"])
@pytest.mark.parametrize("account_number", [False, True], ids=["no-account-number", "account-number"])
def test_2_a_rename_after_a_lost_create_answer_still_makes_one_contact(
    kind: str, account_number: bool, client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a create that reaches the system but whose answer is lost
    slow_retries(rt)
    integration = create_integration(client, admin, sandbox, kind)
    member = new_organisation(sandbox, integration["subdomain"], account_number=account_number)
    method, path = CREATE_PATHS[kind]
    inject(sandbox, kind, method=method, path=path, mode="lost", times=1)
    with RunningWorker(rt, threads=1):
        event_id = webhook(client, integration, member["id"], "create")
        wait_for(lambda: event_store.get(rt.db, event_id).status == "retrying", timeout=20,
                 what="the lost answer")
    assert len(named(sandbox, kind, integration["tenant"], member["name"])) == 1
    # When the organisation is renamed before the retry runs
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"name": member["name"] + " Renamed"})
    with RunningWorker(rt, threads=1):
        event = final(rt, event_id)
    # Then the retry found the contact its first attempt made: one contact, renamed, linked
    assert event.status == "succeeded", (event.outcome, event.last_error)
    everything = contacts(sandbox, kind, integration["tenant"])
    assert [c[NAME_KEYS[kind]] for c in everything] == [member["name"] + " Renamed"]
    assert event.outcome["contact_id"] == str(everything[0][ID_KEYS[kind]])
    assert links.get(rt.db, integration["id"], member["id"]).contact_id == str(everything[0][ID_KEYS[kind]])


def test_2_a_lost_batch_answer_then_a_rename_still_makes_one_contact_each(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given three creates waiting, sent as one Xero batch whose answer is lost
    slow_retries(rt)
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(3)]
    event_ids = [webhook(client, integration, m["id"], "create") for m in members]
    inject(sandbox, "xero", method="PUT", path="/Contacts$", mode="lost", times=1)
    with RunningWorker(rt, threads=1):
        wait_for(lambda: all(event_store.get(rt.db, e).status == "retrying" for e in event_ids),
                 timeout=20, what="the lost batch answer")
    assert len(sandbox.get("xero", "contacts", tenant=integration["tenant"])["Contacts"]) == 3
    # When one organisation is renamed before the retries run
    renamed = members[0]["name"] + " Renamed"
    edit_organisation(sandbox, integration["subdomain"], members[0]["id"], {"name": renamed})
    with RunningWorker(rt, threads=1):
        settled = [final(rt, e) for e in event_ids]
    # Then each found the contact the batch made for it (by the name it sent): three contacts
    assert [e.status for e in settled] == ["succeeded"] * 3, [(e.outcome, e.last_error) for e in settled]
    names = sorted(c["Name"] for c in sandbox.get("xero", "contacts", tenant=integration["tenant"])["Contacts"])
    assert names == sorted([renamed] + [m["name"] for m in members[1:]])


# -- 3. A stale create marker adopts a foreign contact ----------------------------------------
def test_3_a_create_refused_for_its_name_leaves_no_marker_and_a_replay_adopts_nothing(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a stranger's contact in Xero, and an organisation of the same name that may not link by name
    integration = create_integration(client, admin, sandbox, "xero", policies={"link_existing_by_name": False})
    stranger = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                               contact={"Name": "Shared Name Ltd", "EmailAddress": "stranger@example.test"})
    member = new_organisation(sandbox, integration["subdomain"], name="Shared Name Ltd")
    with RunningWorker(rt, threads=1):
        # When its create is refused for the name, and the event is then replayed
        event_id = webhook(client, integration, member["id"], "create")
        assert final(rt, event_id).status == "failed"
        assert not links.has_marker(rt.db, integration["id"], member["id"])
        assert client.post(f"/api/events/{event_id}/replay", headers=admin).status_code == 202
        wait_for(lambda: (e := event_store.get(rt.db, event_id)) and e.attempts == 2 and e.status == "failed",
                 timeout=20, what="the replay")
    # Then the stranger's contact is neither linked nor written
    assert links.get(rt.db, integration["id"], member["id"]) is None
    assert contact(sandbox, "xero", integration["tenant"], stranger["ContactID"])["EmailAddress"] == "stranger@example.test"


def test_3_a_create_refused_with_503_never_adopts_a_same_name_contact_made_later(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a create answered 503 with nothing written
    slow_retries(rt)
    integration = create_integration(client, admin, sandbox, "xero", policies={"link_existing_by_name": False})
    member = new_organisation(sandbox, integration["subdomain"], name="Later Stranger Ltd")
    inject(sandbox, "xero", method="PUT", path="/Contacts$", status=503, times=1)
    with RunningWorker(rt, threads=1):
        event_id = webhook(client, integration, member["id"], "create")
        wait_for(lambda: event_store.get(rt.db, event_id).status == "retrying", timeout=20, what="the 503")
    # When a person makes a contact of that name before the retry
    stranger = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                               contact={"Name": "Later Stranger Ltd", "EmailAddress": "stranger@example.test"})
    with RunningWorker(rt, threads=1):
        event = final(rt, event_id)
    # Then the retry does not take the stranger's contact for its own
    assert event.status == "failed", event.outcome
    assert links.get(rt.db, integration["id"], member["id"]) is None
    assert contact(sandbox, "xero", integration["tenant"], stranger["ContactID"])["EmailAddress"] == "stranger@example.test"
    assert not links.has_marker(rt.db, integration["id"], member["id"])


# -- 4. Writes are not fenced to the end ------------------------------------------------------
def test_4_a_write_after_a_stall_past_the_lock_is_fenced_right_before_it_is_sent(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a linked Xero contact, an edit waiting, and a token refresh that will stall
    rt.settings = rt.settings.with_overrides(lock_ttl_seconds=1.0)
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    created = webhook(client, integration, member["id"], "create")
    assert process_event(rt, created) == "succeeded"
    contact_id = event_store.get(rt.db, created).outcome["contact_id"]
    set_email(sandbox, integration["subdomain"], member["id"], "stale@example.test")
    edited = webhook(client, integration, member["id"])
    sandbox.control("xero", "expire", tenant=integration["tenant"])
    inject(sandbox, "xero", method="POST", path="/connect/token", mode="delay", delay=2.5, times=1)
    lock = OrganisationLock(rt.redis, integration_id=integration["id"], organisation_id=member["id"], ttl=30)

    def take_over() -> float:
        # While the refresh stalls, the lock lapses (a stalled process renews nothing) and a newer sync takes it
        wait_for(lambda: any("/connect/token" in c["path"] for c in sandbox.calls("xero")), timeout=10)
        time.sleep(0.3)
        rt.redis.delete(lock.key)
        assert lock.acquire()
        return time.time()

    thread, box = in_thread(take_over)
    # When the stalled sync carries on after its refresh
    process_event(rt, edited)
    thread.join(10)
    taken_at = box[0]
    # Then no write reached Xero once the lock was another's, and the event is owed again
    assert calls_since(sandbox, "xero", taken_at, "POST", f"/Contacts/{contact_id}") == []
    assert event_store.get(rt.db, edited).status in ("queued", "retrying")
    lock.release()


def test_4_a_long_call_keeps_its_lease_so_a_second_worker_cannot_run_the_same_event(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a short lock TTL and lease, and a Sage create that takes longer than both
    rt.settings = rt.settings.with_overrides(lock_ttl_seconds=1.0)
    integration = create_integration(client, admin, sandbox, "sage")
    member = new_organisation(sandbox, integration["subdomain"])
    event_id = webhook(client, integration, member["id"], "create")
    inject(sandbox, "sage", method="POST", path="/contacts$", mode="delay", delay=2.5, times=1)
    # When a second worker is handed the same event while the first is still in its call
    first, first_box = in_thread(lambda: process_event(rt, event_id))
    time.sleep(1.6)
    second = process_event(rt, event_id)
    first.join(15)
    # Then the second found nothing owed, and there is one contact
    assert second is None
    assert first_box == ["succeeded"]
    assert len(named(sandbox, "sage", integration["tenant"], member["name"])) == 1


# -- 5. Smaller faults ------------------------------------------------------------------------
def test_5_a_duplicate_message_does_not_run_an_event_before_its_next_attempt(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given an event waiting for its backoff (or a Retry-After) a minute from now
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    event_id = webhook(client, integration, member["id"], "create")
    with rt.db.session() as session:
        session.execute(update(Event).where(Event.id == event_id).values(
            status="retrying", next_attempt_at=utcnow() + timedelta(seconds=60)))
    # When a duplicate message for it arrives now
    assert process_event(rt, event_id) is None
    # Then nothing ran
    assert event_store.get(rt.db, event_id).status == "retrying"
    assert named(sandbox, "xero", integration["tenant"], member["name"]) == []


def test_5_an_event_that_kills_its_worker_reaches_the_give_up_and_says_so_plainly(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a give-up after one second, and an event whose worker died mid-attempt
    rt.settings = rt.settings.with_overrides(retry_give_up_seconds=1.0)
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    event_id = webhook(client, integration, member["id"], "create")
    claimed = event_store.claim(rt.db, event_id, lease_seconds=0.1)
    event_store.start_attempt(rt.db, claimed)  # ... and then the process was killed
    time.sleep(1.2)
    assert event_store.recover_lapsed(rt.db) == 1  # what the relay does for a lapsed lease
    # When its next run fails for a cause that may pass
    inject(sandbox, "xero", method="PUT", path="/Contacts$", status=503, times=1)
    status = process_event(rt, event_id)
    # Then the give-up clock started at the killed attempt: it gives up, in plain words
    event = event_store.get(rt.db, event_id)
    assert status == "failed", (event.status, event.first_failure_at)
    assert event.outcome["reason"].startswith("gave up retrying after")
    assert "will retry" not in event.outcome["reason"]


def test_5_a_whole_request_400_from_a_xero_batch_is_isolated_not_spread(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given three creates going out in one Xero batch, and a whole-request 400 for that request
    integration = create_integration(client, admin, sandbox, "xero")
    row = integration_store.get(rt.db, integration["id"])
    provider = factory.accounting_provider(rt, row)
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(3)]
    bodies = [organisation_from_member(m).fields for m in members]
    inject(sandbox, "xero", method="PUT", path="/Contacts$", status=400, times=1,
           body={"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred"})
    # When the batch is sent
    results = provider.create_contacts([(fields, f"key-{i}") for i, fields in enumerate(bodies)])
    # Then the halves were sent again and every element has its own answer: all created
    assert [r.error for r in results] == [None, None, None]
    assert sorted(r.contact.name for r in results) == sorted(m["name"] for m in members)


# -- 4. ... and a worker whose TTL cannot cover one call refuses to start ---------------------
def test_4_a_worker_whose_lock_ttl_cannot_cover_one_call_stops_naming_the_setting(tmp_path: Any, redis_url: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import make_env, migrate

    # Given a lock TTL shorter than one call (connect + read timeout)
    env = make_env(f"sqlite:///{tmp_path}/app.db", LOCK_TTL_SECONDS="5")
    migrate(env["DATABASE_URL"])
    # When a worker process starts as the Procfile starts it (in a session of its own, so that
    # nothing of it can outlive the test and eat the queue's messages)
    process = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "workers.actors", "--processes", "1", "--threads", "1"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
    # Then it stops, and says which setting does not fit
    assert process.returncode != 0, output[-2000:]
    assert "LOCK_TTL_SECONDS=5" in output and "HTTP_READ_TIMEOUT_SECONDS" in output, output[-2000:]
