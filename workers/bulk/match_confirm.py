"""Confirming reviewed matches: each link made as ``PUT …/links/<id>`` makes it (interface §7).

The contact must exist (read back, batched where the system allows) and be free; the link is
stored; then the organisation syncs at once through its own event, which overwrites the contact
only if ``update_contact_on_edit`` holds (the sync decides, as after a manual link).

A confirm that needs few look-up calls answers at once; more (``all_full`` after a review of
thousands, or any Sage confirm past a handful: Sage reads one contact per call) becomes a job
of the ``match`` kind, so no request waits minutes for the accounting system's rate limit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from core.db import Database
from core.models import Contact
from core.runtime import Runtime
from core.store import links, matches
from core.store.jobs import Progress
from core.store.links import ContactAlreadyLinked, LinkWrite
from providers.base import AccountingProvider
from workers import replay
from workers.bulk.run import BulkRun

#: Look-up calls a confirm may make while the request waits; more become a job.
ANSWER_NOW_CALLS = 10
#: Pairs whose contacts are read and linked between two progress writes (in a job).
CHUNK = 50


@dataclass
class Outcome:
    linked: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(self, organisation_id: int, contact_id: str, reason: str) -> None:
        self.errors.append({"organisation_id": organisation_id, "contact_id": contact_id, "error": reason})


def lookup_calls(provider: AccountingProvider | type[AccountingProvider], count: int) -> int:
    """Calls ``get_contacts`` needs for ``count`` ids (Xero 50, QuickBooks 30 an answer, Sage 1)."""
    return math.ceil(count / max(1, provider.max_batch))


def screen(db: Database, integration_id: str, pairs: Iterable[tuple[int, str]], outcome: Outcome
           ) -> list[tuple[int, str]]:
    """Pairs worth a look-up: not an organisation or contact named twice, not already linked."""
    seen_orgs: set[int] = set()
    seen_contacts: set[str] = set()
    wanted: list[tuple[int, str]] = []
    for organisation_id, contact_id in pairs:
        problem = None
        if organisation_id in seen_orgs:
            problem = "organisation named twice"
        elif contact_id in seen_contacts:
            problem = "contact named for two organisations"
        elif (current := links.get(db, integration_id, organisation_id)) is not None:
            problem = f"organisation is already linked to contact {current.contact_id}"
        seen_orgs.add(organisation_id)
        seen_contacts.add(contact_id)
        if problem:
            outcome.error(organisation_id, contact_id, problem)
        else:
            wanted.append((organisation_id, contact_id))
    return wanted


def read_contacts(provider: AccountingProvider, pairs: list[tuple[int, str]]) -> dict[str, Contact]:
    return provider.get_contacts([c for _, c in pairs if provider.valid_contact_id(c)])


def link(rt: Runtime, integration_id: str, pairs: list[tuple[int, str]], contacts: dict[str, Contact],
         names: dict[int, str], outcome: Outcome) -> None:
    for organisation_id, contact_id in pairs:
        contact = contacts.get(contact_id)
        if contact is None:
            outcome.error(organisation_id, contact_id, f"no contact {contact_id} in the accounting system")
            continue
        try:
            links.save(rt.db, LinkWrite(
                integration_id=integration_id, organisation_id=organisation_id,
                organisation_name=names.get(organisation_id, ""), contact=contact, fields_hash=None))
        except ContactAlreadyLinked as error:
            outcome.error(organisation_id, contact_id, f"contact {contact_id} is linked to organisation "
                                                       f"{error.link.organisation_id} '{error.link.organisation_name}'")
            continue
        replay.sync_after_link(rt, integration_id, organisation_id, via="match review")
        outcome.linked.append(organisation_id)
    matches.remove(rt.db, integration_id, outcome.linked)



def names_of(db: Database, integration_id: str) -> dict[int, str]:
    return {r.organisation_id: r.organisation_name for r in matches.listed(db, integration_id)}


def run_confirm(run: BulkRun) -> None:
    """The job: pairs from ``options.confirm``, a chunk of look-ups and links per progress write."""
    db, integration_id = run.rt.db, run.integration.id
    pairs = [(int(o), str(c)) for o, c in run.options.get("confirm") or []]
    start = int((run.job.state or {}).get("position", 0))
    names = names_of(db, integration_id)
    screened = Outcome()
    wanted = screen(db, integration_id, pairs[start:], screened) if start == 0 else \
        [p for p in pairs[start:] if links.get(db, integration_id, p[0]) is None]
    run.record(Progress(failed=len(screened.errors), errors=screened.errors, total=len(pairs)))
    for offset in range(0, len(wanted), CHUNK):
        chunk = wanted[offset:offset + CHUNK]
        outcome = Outcome()
        link(run.rt, integration_id, chunk, read_contacts(run.provider, chunk), names, outcome)
        run.count("linked", len(outcome.linked))
        run.record(Progress(done=len(outcome.linked), failed=len(outcome.errors), errors=outcome.errors,
                            state={"position": start + offset + len(chunk)}))
