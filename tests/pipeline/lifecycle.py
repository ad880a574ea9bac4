"""The lifecycle of organisations and their contacts as a hypothesis state machine (issue 12).

Runs against real parts: the sandbox's stand-ins (Current RMS, Xero, QuickBooks, Sage) on
127.0.0.1, the Flask app answering webhooks, real Dramatiq worker processes (the Procfile's
``dramatiq workers.actors``) with the outbox relay on the test Redis, and the SQLite store.
Steps interleave at random, on all three systems at once: webhooks (create, update, rename,
account-number change, no-op edit, a duplicate delivery), replays, people's edits in the
accounting system, lost answers (the write applied, its answer dropped), 5xx and 429 answers, a
worker process SIGKILLed while its write is in flight, and organisation locks that expire while
a sync's write is in flight.

After every run, once the faults are cleared and the work has settled:

- at most one contact per organisation (every name an organisation ever had counts);
- each linked contact equals its organisation's latest state;
- no contact the integration did not create or link (a stranger's) is touched or linked;
- every event is final or still owed; with the faults gone, all become final.

``tests/pipeline/test_lifecycle_property.py`` runs a bounded profile; ``bench/pipeline_property.py``
a long one that reports steps run and violations found.
"""
from __future__ import annotations

import itertools
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import select

from core.locks import OrganisationLock
from core.store import links
from core.tables import Event
from tests.pipeline.worker_processes import HELD_CALL_SECONDS, Workers
from tests.support import (
    PROVIDER_PATHS,
    create_integration,
    edit_organisation,
    send_webhook,
)

KINDS = ("xero", "quickbooks", "sage")
ID_KEYS = {"xero": "ContactID", "quickbooks": "Id", "sage": "id"}
NAME_KEYS = {"xero": "Name", "quickbooks": "DisplayName", "sage": "name"}
#: Where each system takes its creates and updates (fault injection matches these).
WRITE_PATHS = {
    "xero": ("PUT|POST", r"/Contacts"),
    "quickbooks": ("POST", r"/(customer|batch)$"),
    "sage": ("POST|PUT", r"/contacts"),
}
FINAL = ("succeeded", "skipped", "failed")
#: Seconds a run waits for its work to settle once the faults are cleared.
SETTLE_SECONDS = 90.0
#: Seconds a step waits for the write it holds to reach the stand-in.
HELD_WAIT_SECONDS = 15.0
#: The emails an organisation takes: few, so that edits go back to earlier values.
EMAILS = ("a@example.test", "b@example.test", "c@example.test")
_numbers = itertools.count(1)


@dataclass
class Org:
    kind: str
    member_id: int
    name: str
    email: str
    account: str
    names: set[str] = field(default_factory=set)
    action_ids: list[int] = field(default_factory=list)
    #: Edited by a person in the accounting system since the integration last wrote it.
    hand_edited: bool = False


@dataclass
class World:
    """The real parts one run talks to (the test's fixtures, or the benchmark's own)."""

    rt: Any
    client: Any
    admin: dict[str, str]
    sandbox: Any
    #: The worker processes (started by the caller; the kill step SIGKILLs and restarts them).
    workers: Workers
    stats: dict[str, int] = field(default_factory=lambda: {
        "runs": 0, "steps": 0, "events": 0, "kills": 0, "kills_mid_call": 0,
        "locks_expired": 0, "locks_expired_mid_call": 0})


def email_of(kind: str, contact: dict[str, Any]) -> str:
    if kind == "xero":
        return contact.get("EmailAddress") or ""
    if kind == "quickbooks":
        return (contact.get("PrimaryEmailAddr") or {}).get("Address") or ""
    return (contact.get("main_contact_person") or {}).get("email") or ""


def account_of(kind: str, contact: dict[str, Any]) -> str | None:
    if kind == "xero":
        return contact.get("AccountNumber") or ""
    if kind == "sage":
        return contact.get("reference") or ""
    return None  # QuickBooks customers have no account number


def build(world: World) -> type[RuleBasedStateMachine]:
    """The machine bound to ``world``'s parts."""

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.integrations: dict[str, dict[str, Any]] = {}
            self.orgs: list[Org] = []
            self.strangers: list[tuple[str, str, str]] = []  # (kind, contact id, email)
            world.stats["runs"] += 1

        @initialize()
        def start(self) -> None:
            for kind in KINDS:
                self.integrations[kind] = create_integration(world.client, world.admin, world.sandbox, kind)
            if world.workers.current is None:  # a run that ended right after a kill
                world.workers.start()

        def teardown(self) -> None:
            if self.integrations:
                self._settle_and_check()

        # -- webhooks -----------------------------------------------------------------------
        @rule(kind=st.sampled_from(KINDS), with_account=st.booleans())
        def create(self, kind: str, with_account: bool) -> None:
            integration = self.integrations[kind]
            n = next(_numbers)
            name = f"Lifecycle {uuid.uuid4().hex[:8]} {n}"
            account = f"LC-{uuid.uuid4().hex[:7]}" if with_account else ""
            member = _seed(world.sandbox, integration["subdomain"], name, f"first{n}@example.test", account)
            org = Org(kind, member["id"], name, f"first{n}@example.test", account, {name})
            self.orgs.append(org)
            self._webhook(org, "create")

        @precondition(lambda self: self.orgs)
        @rule(data=st.data(), email=st.sampled_from(EMAILS))
        def update_email(self, data: st.DataObject, email: str) -> None:
            # Few values, so that an email goes back to an earlier one (a -> b -> a).
            org = self._pick(data)
            changed, org.email = org.email != email, email
            self._edit(org, {"emails": [{"address": org.email, "type_id": 4001, "email_type_name": "Work"}]})
            self._webhook(org, "update")
            org.hand_edited = org.hand_edited and not changed  # a mapped field changed: its sync writes

        @precondition(lambda self: self.orgs)
        @rule(data=st.data(), suffix=st.sampled_from(["", " r1", " r2"]))
        def rename(self, data: st.DataObject, suffix: str) -> None:
            # Back and forth between a few names of its own (each organisation's are unique).
            org = self._pick(data)
            name = f"{org.name.split(' r')[0]}{suffix}"
            changed, org.name = org.name != name, name
            org.names.add(org.name)
            self._edit(org, {"name": org.name})
            self._webhook(org, "update")
            org.hand_edited = org.hand_edited and not changed

        @precondition(lambda self: self.orgs)
        @rule(data=st.data())
        def change_account_number(self, data: st.DataObject) -> None:
            org = self._pick(data)
            org.account = f"LC-{uuid.uuid4().hex[:7]}"
            self._edit(org, {"membership": {"number": org.account}})
            self._webhook(org, "update")
            # QuickBooks customers have no account number: not a mapped change there.
            org.hand_edited = org.hand_edited and org.kind == "quickbooks"

        @precondition(lambda self: self.orgs)
        @rule(data=st.data())
        def no_op_edit(self, data: st.DataObject) -> None:
            self._webhook(self._pick(data), "update")

        @precondition(lambda self: any(o.action_ids for o in self.orgs))
        @rule(data=st.data())
        def duplicate_delivery(self, data: st.DataObject) -> None:
            org = self._pick(data, with_events=True)
            action_id = data.draw(st.sampled_from(org.action_ids))
            response = send_webhook(world.client, self.integrations[org.kind], org.member_id, "update", action_id)
            assert response.status_code == 200, response.get_json()

        @precondition(lambda self: any(o.action_ids for o in self.orgs))
        @rule(data=st.data())
        def replay(self, data: st.DataObject) -> None:
            org = self._pick(data, with_events=True)
            event = self._events(org)[-1]
            answer = world.client.post(f"/api/events/{event.id}/replay", headers=world.admin)
            assert answer.status_code == 202, answer.get_json()
            # Only a finished event is run again (one still owed is left as it is, and its run
            # writes nothing if no mapped field changed): then it writes whatever the contact holds.
            if event.status in FINAL:
                org.hand_edited = False

        # -- the accounting system's side ------------------------------------------------------
        @precondition(lambda self: self.orgs)
        @rule(data=st.data())
        def hand_edit(self, data: st.DataObject) -> None:
            org = self._pick(data)
            # A person edits a contact that exists: wait (a little) for its link.
            deadline = time.monotonic() + 10
            while (link := links.get(world.rt.db, self.integrations[org.kind]["id"], org.member_id)) is None:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.1)
            _hand_edit(world.sandbox, org.kind, self.integrations[org.kind]["tenant"], link.contact_id,
                       f"hand{next(_numbers)}@example.test")
            org.hand_edited = True

        @rule(kind=st.sampled_from(KINDS))
        def stranger(self, kind: str) -> None:
            email = f"stranger{next(_numbers)}@example.test"
            made = _seed_contact(world.sandbox, kind, self.integrations[kind]["tenant"],
                                 f"Stranger {uuid.uuid4().hex[:8]}", email)
            self.strangers.append((kind, str(made), email))

        @rule(kind=st.sampled_from(KINDS),
              fault=st.sampled_from([{"mode": "lost"}, {"status": 503}, {"status": 500},
                                     {"status": 429, "headers": {"Retry-After": "1"}}]))
        def fault(self, kind: str, fault: dict[str, Any]) -> None:
            method, path = WRITE_PATHS[kind]
            for one in method.split("|"):
                _inject(world.sandbox, kind, method=one, path=path, times=1, **fault)

        # -- the worker's side: a process killed mid-call, locks expiring mid-call ---------------
        @rule(kind=st.sampled_from(KINDS), data=st.data())
        def kill_worker_mid_call(self, kind: str, data: st.DataObject) -> None:
            # A write of ``kind`` is held at the stand-in; the worker process making it is
            # SIGKILLed while it waits. The stand-in applies the write after the worker died:
            # its answer is read by nobody and no link records it. A fresh process takes over.
            held = self._hold_a_write(kind, data)
            world.workers.kill()
            world.stats["kills"] += 1
            world.stats["kills_mid_call"] += int(held)
            world.workers.start()

        @rule(kind=st.sampled_from(KINDS), data=st.data())
        def expire_locks_mid_call(self, kind: str, data: st.DataObject) -> None:
            # While a sync's write is held at the stand-in, the organisation locks of its
            # integration expire (a stalled process renews nothing; Redis lost the keys), and a
            # newer webhook of the same organisation may take the lock at once.
            held = self._hold_a_write(kind, data)
            integration_id = self.integrations[kind]["id"]
            for org in (o for o in self.orgs if o.kind == kind):
                lock = OrganisationLock(world.rt.redis, integration_id=integration_id,
                                        organisation_id=org.member_id)
                world.rt.redis.delete(lock.key)
            world.stats["locks_expired"] += 1
            world.stats["locks_expired_mid_call"] += int(held)
            mine = [o for o in self.orgs if o.kind == kind]
            if mine:
                self._webhook(data.draw(st.sampled_from(mine)), "update")

        @invariant()
        def count_steps(self) -> None:
            world.stats["steps"] += 1

        # -- helpers ----------------------------------------------------------------------------
        def _hold_a_write(self, kind: str, data: st.DataObject) -> bool:
            """Hold the next write to ``kind``'s stand-in, make a change that needs one (a new
            organisation, or a new email for one), and wait until a write arrives and is held.
            False when none arrived in time (the step then goes on all the same)."""
            stand_in = getattr(world.sandbox, kind)
            requests.delete(f"{stand_in}/_sandbox/faults", timeout=5).raise_for_status()
            seen = int(requests.get(f"{stand_in}/_sandbox/stats", timeout=5).json()["calls"])
            method, path = WRITE_PATHS[kind]
            for one in method.split("|"):
                _inject(world.sandbox, kind, method=one, path=path, mode="delay",
                        delay=HELD_CALL_SECONDS, times=1)
            mine = [o for o in self.orgs if o.kind == kind]
            if mine and data.draw(st.booleans()):
                org = data.draw(st.sampled_from(mine))
                org.email = f"held{next(_numbers)}@example.test"
                self._edit(org, {"emails": [{"address": org.email, "type_id": 4001, "email_type_name": "Work"}]})
                self._webhook(org, "update")
                org.hand_edited = False  # a mapped field changed: its sync writes
            else:
                self.create(kind, data.draw(st.booleans()))
            return _wait_for_write(world.sandbox, kind, since=seen)

        def _pick(self, data: st.DataObject, *, with_events: bool = False) -> Org:
            choices = [o for o in self.orgs if o.action_ids] if with_events else self.orgs
            return data.draw(st.sampled_from(choices))

        def _edit(self, org: Org, changes: dict[str, Any]) -> None:
            edit_organisation(world.sandbox, self.integrations[org.kind]["subdomain"], org.member_id, changes)

        def _webhook(self, org: Org, action: str) -> None:
            action_id = next(_numbers) + int(time.time() * 1000)
            response = send_webhook(world.client, self.integrations[org.kind], org.member_id, action, action_id)
            assert response.status_code == 202, response.get_json()
            org.action_ids.append(action_id)
            world.stats["events"] += 1

        def _events(self, org: Org) -> list[Event]:
            with world.rt.db.session() as session:
                return list(session.scalars(
                    select(Event).where(Event.integration_id == self.integrations[org.kind]["id"],
                                        Event.organisation_id == org.member_id)
                    .order_by(Event.received_at)))

        def _all_events(self) -> list[Event]:
            with world.rt.db.session() as session:
                ids = [i["id"] for i in self.integrations.values()]
                return list(session.scalars(select(Event).where(Event.integration_id.in_(ids))))

        def _settled(self) -> bool:
            return all(e.status in FINAL for e in self._all_events())

        def _wait_settled(self) -> None:
            deadline = time.monotonic() + SETTLE_SECONDS
            while time.monotonic() < deadline and not self._settled():
                time.sleep(0.2)
            left = [(e.id, e.status, e.last_error) for e in self._all_events() if e.status not in FINAL]
            # Every event is final or still owed; with the faults gone, none stays owed.
            assert not left, f"events still owed after {SETTLE_SECONDS}s: {left}"

        def _settle_and_check(self) -> None:
            for kind in KINDS:
                requests.delete(f"{getattr(world.sandbox, kind)}/_sandbox/faults", timeout=5)
            self._wait_settled()
            # A contact a person edited after the last write holds their edit until something
            # writes again (an edit that changes nothing mapped makes no call): replay those.
            for org in self.orgs:
                if org.hand_edited and self._events(org):
                    world.client.post(f"/api/events/{self._events(org)[-1].id}/replay", headers=world.admin)
            self._wait_settled()
            self._check()

        def _check(self) -> None:
            for kind in KINDS:
                integration = self.integrations[kind]
                contacts = _contacts(world.sandbox, kind, integration["tenant"])
                by_id = {str(c[ID_KEYS[kind]]): c for c in contacts}
                mine = [o for o in self.orgs if o.kind == kind]
                for org in mine:
                    named = [c for c in contacts if c[NAME_KEYS[kind]] in org.names]
                    assert len(named) <= 1, f"{kind}: {len(named)} contacts for organisation {org.name}"
                    link = links.get(world.rt.db, integration["id"], org.member_id)
                    events = self._events(org)
                    failed = [(e.outcome or {}).get("reason") for e in events if e.status == "failed"]
                    assert not failed, f"{kind}: {org.name} has failed events: {failed}"
                    assert link is not None, f"{kind}: {org.name} was never linked"
                    contact = by_id.get(str(link.contact_id))
                    assert contact is not None, f"{kind}: the contact of {org.name} is gone"
                    held = (contact[NAME_KEYS[kind]], email_of(kind, contact), account_of(kind, contact))
                    wanted = (org.name, org.email, None if kind == "quickbooks" else org.account)
                    assert held == wanted, f"{kind}: contact holds {held}, organisation is {wanted}"
                for stranger_kind, contact_id, email in self.strangers:
                    if stranger_kind != kind:
                        continue
                    assert email_of(kind, by_id[contact_id]) == email, f"{kind}: stranger {contact_id} touched"
                    linked = links.by_contact(world.rt.db, integration["id"], contact_id)
                    assert linked is None, f"{kind}: stranger {contact_id} linked"

    return Lifecycle


def _seed(sandbox: Any, subdomain: str, name: str, email: str, account: str) -> dict[str, Any]:
    from tests.support import sample_member, seed_organisation

    membership = {**sample_member()["membership"], "number": account}
    emails = [{"address": email, "type_id": 4001, "email_type_name": "Work"}]
    return seed_organisation(sandbox, subdomain, name=name, membership=membership, emails=emails)


def _wait_for_write(sandbox: Any, kind: str, *, since: int) -> bool:
    """Whether a write to ``kind``'s stand-in arrived after its ``since``-th call (a write is
    logged as it arrives, before a held one is answered)."""
    method, path = WRITE_PATHS[kind]
    methods = method.split("|")
    deadline = time.monotonic() + HELD_WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = requests.get(f"{getattr(sandbox, kind)}/_sandbox/calls", params={"since": since}, timeout=5).json()
        if any(c["method"] in methods and re.search(path, c["path"]) for c in answer["calls"]):
            return True
        time.sleep(0.05)
    return False


def _inject(sandbox: Any, kind: str, **fault: Any) -> None:
    requests.post(f"{getattr(sandbox, kind)}/_sandbox/faults", json=fault, timeout=5).raise_for_status()


def _contacts(sandbox: Any, kind: str, tenant: str) -> list[dict[str, Any]]:
    answer = sandbox.get(kind, "contacts", tenant=tenant)
    return next(value for value in answer.values() if isinstance(value, list))


def _seed_contact(sandbox: Any, kind: str, tenant: str, name: str, email: str) -> str:
    if kind == "xero":
        made = sandbox.control("xero", "contacts", tenant=tenant, contact={"Name": name, "EmailAddress": email})
        return made["ContactID"]
    if kind == "quickbooks":
        made = sandbox.control("quickbooks", "contacts", tenant=tenant,
                               DisplayName=name, PrimaryEmailAddr={"Address": email})
        made = made.get("Customer", made)
        return str(made["Id"])
    made = sandbox.control("sage", "contacts", tenant=tenant, contact={
        "name": name, "contact_type_ids": ["CUSTOMER"], "main_contact_person": {"email": email}})
    return made["id"]


def _hand_edit(sandbox: Any, kind: str, tenant: str, contact_id: str, email: str) -> None:
    """A person changes the contact's email in the accounting system; like a person, they try
    again when the system answers with one of the faults injected for the integration."""
    for _ in range(8):
        try:
            _hand_edit_once(sandbox, kind, tenant, contact_id, email)
            return
        except requests.ConnectionError:
            return  # a lost answer: the edit was applied
        except requests.HTTPError as error:
            if error.response is None or error.response.status_code not in (429, 500, 503):
                raise
            time.sleep(0.2)
    raise AssertionError(f"the hand edit of {kind} contact {contact_id} never went through")


def _hand_edit_once(sandbox: Any, kind: str, tenant: str, contact_id: str, email: str) -> None:
    if kind == "quickbooks":
        response = requests.patch(f"{sandbox.quickbooks}/_sandbox/contacts/{contact_id}", timeout=5,
                                  json={"tenant": tenant, "PrimaryEmailAddr": {"Address": email}})
        response.raise_for_status()
        return
    token = sandbox.control(kind, "tokens", tenant=tenant)["access_token"]
    base = f"{getattr(sandbox, kind)}{PROVIDER_PATHS[kind][0]}"
    if kind == "xero":
        response = requests.post(f"{base}/Contacts/{contact_id}", json={"Contacts": [{"EmailAddress": email}]},
                                 headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant}, timeout=5)
    else:
        response = requests.put(f"{base}/contacts/{contact_id}",
                                json={"contact": {"main_contact_person": {"email": email, "is_main_contact": True}}},
                                headers={"Authorization": f"Bearer {token}", "X-Business": tenant}, timeout=5)
    response.raise_for_status()
