"""The match review job (interface §11): candidates for every active, unlinked organisation.

It writes nothing to the accounting system. The ledger is read once (the system's listing at
bulk priority: Xero 100, QuickBooks 1000, Sage 200 contacts per call) into an index per key of
``match_on``, then the organisations stream from the rental system a page at a time and each is
classified full / partial / none in memory. So 10,000 organisations cost their pages plus the
ledger's pages, not a query each (``bench/match_review.py`` measures it).

Results replace those of the previous review; progress is written once per page.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from core.errors import Rejected
from core.matching import Candidate, Review, Subject, classify, match_on_of
from core.models import Organisation
from core.store import links, matches
from core.store.jobs import Progress
from core.store.matches import NewResult
from providers import search
from workers.bulk import organisations
from workers.bulk.match_confirm import run_confirm
from workers.bulk.run import BulkRun

#: Organisations classified between two progress writes (the rental system's page size).
PAGE = 100


class LedgerIndex:
    """The ledger's active contacts, looked up by each key's normalised value."""

    def __init__(self, candidates: Iterable[Candidate], match_on: Sequence[str]) -> None:
        self.match_on = list(match_on)
        self.by_key: dict[str, dict[str, list[Candidate]]] = {k: defaultdict(list) for k in self.match_on}
        self.size = 0
        for candidate in candidates:
            self.size += 1
            for key in self.match_on:
                value = candidate.value(key)
                if value:
                    self.by_key[key][value].append(candidate)

    def candidates_for(self, subject: Subject) -> list[Candidate]:
        found: dict[str, Candidate] = {}
        for key in self.match_on:
            value = subject.value(key)
            for candidate in self.by_key[key].get(value, []) if value else []:
                found.setdefault(candidate.id, candidate)
        return list(found.values())


def result_of(organisation: Organisation, review: Review) -> NewResult:
    return NewResult(
        organisation_id=organisation.id, organisation_name=organisation.name, kind=review.kind,
        candidates=[scored.to_dict() for scored in review.candidates],
    )


def run_match(run: BulkRun) -> None:
    """A review, or (``options.confirm``) the confirmation of reviewed pairs."""
    if run.options.get("confirm"):
        return run_confirm(run)
    db, integration_id = run.rt.db, run.integration.id
    asked = list(run.options.get("match_on") or match_on_of(run.integration.policies))
    match_on, ignored = search.review_keys(run.provider, asked)
    if not match_on:
        raise Rejected(reason=f"{run.provider.title} cannot match on {', '.join(ignored)}")
    matches.clear(db, integration_id)
    run.summary = {"full": 0, "partial": 0, "none": 0}
    index = LedgerIndex(search.ledger(run.provider), match_on)
    linked_orgs = links.contact_ids_by_organisation(db, integration_id)
    linked_contacts = {contact_id: org_id for org_id, contact_id in linked_orgs.items()}
    total = organisations.count_active(run.source)
    seen = 0
    page: list[NewResult] = []
    for organisation in run.source.iter_organisations(active_only=True):
        if not organisation.is_organisation or organisation.id in linked_orgs:
            continue
        subject = Subject.of(organisation)
        review = classify(subject, index.candidates_for(subject), match_on, linked_contacts)
        run.count(review.kind)
        page.append(result_of(organisation, review))
        seen += 1
        if len(page) >= PAGE:
            _flush(run, page, seen, total)
            page = []
    _flush(run, page, seen, None)
    run.record(Progress(total=seen, state={"contacts_read": index.size, "match_on": match_on,
                                           "ignored_keys": ignored}))


def _flush(run: BulkRun, page: list[NewResult], seen: int, total: int | None) -> None:
    matches.save_many(run.rt.db, run.integration.id, run.job.id, page)
    run.record(Progress(done=len(page), total=max(seen, total or 0)))
