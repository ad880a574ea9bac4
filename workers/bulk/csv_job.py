"""A links CSV too large to answer at once (more than ``ANSWER_AT_ONCE`` rows), as a job.

The rows travel in the job's ``state`` (at most 10,000 short rows); the job ends with the same
counts and errors an at-once answer gives: ``done`` = linked + unchanged, ``failed`` = rows in
error, ``state.summary`` = ``{"linked", "unchanged", "skipped"}``. Running it again is harmless:
rows already applied count as unchanged.
"""
from __future__ import annotations

from typing import Any

from core.db import Database
from core.store import jobs
from core.store.jobs import Progress
from providers.base import AccountingProvider
from workers.bulk.csv_format import CsvRow
from workers.bulk.csv_links import CsvOutcome, apply, check
from workers.bulk.run import BulkRun

#: Data rows answered in the request itself (interface §7); more become a job.
ANSWER_AT_ONCE = 500
#: Valid rows applied between two progress writes.
APPLY_CHUNK = 500


def rows_state(rows: list[CsvRow], *, dry_run: bool) -> dict[str, Any]:
    return {"rows": [[r.number, r.organisation_id, r.contact_id, r.name] for r in rows],
            "dry_run": dry_run}


def link_from_csv(provider: AccountingProvider, db: Database, integration_id: str,
                  rows: list[CsvRow], *, dry_run: bool) -> CsvOutcome:
    """Check every row and apply the valid ones (none when ``dry_run``)."""
    outcome = CsvOutcome()
    valid = check(rows, provider, db, integration_id, outcome)
    apply(valid, db, integration_id, outcome, dry_run=dry_run)
    return outcome


def run_links_csv(run: BulkRun) -> None:
    state = run.job.state or {}
    rows = [CsvRow(int(n), str(o), str(c), str(name)) for n, o, c, name in state.get("rows", [])]
    db, integration_id = run.rt.db, run.integration.id
    outcome = CsvOutcome()
    valid = check(rows, run.provider, db, integration_id, outcome)
    jobs.restart_counts(db, run.job.id, total=len(rows) - outcome.skipped, clear_errors=True)
    run.record(Progress(failed=len(outcome.errors), errors=list(outcome.errors)))
    for start in range(0, len(valid), APPLY_CHUNK):
        before = CsvOutcome()
        apply(valid[start:start + APPLY_CHUNK], db, integration_id, before,
              dry_run=bool(state.get("dry_run")))
        for key in ("linked", "unchanged"):
            run.count(key, getattr(before, key))
        run.record(Progress(done=before.linked + before.unchanged, failed=len(before.errors),
                            errors=list(before.errors)))
    run.count("skipped", outcome.skipped)
    run.record(Progress())
