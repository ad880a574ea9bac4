"""Link verification: every linked contact read (batched where the system allows) and checked
as a change would be: exists, active, merged (interface §10 ``verify-links``).

A link that needs something done becomes a ledger event through ``record_change`` (so the
worker applies the integration's policies, under the organisation's lock, as for a webhook).
Reads run at bulk priority: the rate limiter serves live syncs first.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import structlog

from core.ledger import ChangeSeen, LedgerContact
from core.runtime import Runtime
from core.store import integrations, jobs
from core.store import ledger as ledger_store
from core.tables import Integration, Link, utcnow
from providers import factory
from providers.changes import changes_for
from workers.bulk.run import BulkRun
from workers.ledger_intake import record_change

log = structlog.get_logger(__name__)

KIND = "verify_links"
#: Links verified per progress step (Xero: 20 ``IDs=`` calls; QuickBooks: 10 ``Id IN`` calls).
CHUNK = 1000
#: ``settings`` key: when the integration's links were last verified by the scheduler.
STATE_KEY = "link_verify"


def check_links(
    module: Any, provider: Any, rows: list[Link], *, via: str,
) -> Iterator[ChangeSeen]:
    """The links whose contact is gone, inactive or merged, or back to active while the link
    is ``broken`` (a person restored it), each contact read in batches."""
    yield from link_changes(rows, read_linked(module, provider, rows), via=via)


def read_linked(module: Any, provider: Any, rows: list[Link]) -> dict[str, LedgerContact]:
    """The linked contacts that exist, read in batches (Xero ``IDs=``, QuickBooks ``Id IN``)."""
    found: dict[str, LedgerContact] = module.read_contacts(provider, [link.contact_id for link in rows])
    return found


def link_changes(rows: list[Link], found: dict[str, LedgerContact], *, via: str) -> Iterator[ChangeSeen]:
    """``check_links`` on contacts already read. Broken links whose contact is still gone are
    left as they are: they are on the ops page already."""
    now = datetime.now(timezone.utc)
    for link in rows:
        contact = found.get(link.contact_id)
        broken = (link.status or "ok") == "broken"
        if contact is None:
            if not broken:
                yield ChangeSeen(link.contact_id, now, via, operation="delete")
        elif contact.merged_to:
            yield ChangeSeen(link.contact_id, now, via, operation="merge")
        elif (contact.state != "active") != broken:
            yield ChangeSeen(link.contact_id, now, via, operation=contact.state)


def run_verify(run: BulkRun) -> None:
    """The ``verify_links`` job, run by ``workers.bulk.jobs.run_job`` as every job is (so a job
    whose worker died is resumed by ``requeue_stale`` like the others); the scheduler's
    ``verify_links_due`` reads when it last ran."""
    verify(run.rt, run.integration, job_id=run.job.id)
    integrations.merge_settings(run.rt.db, run.integration.id, {STATE_KEY: {"last_run": utcnow().isoformat()}})


def verify(rt: Runtime, integration: Integration, *, job_id: str | None = None) -> dict[str, int]:
    module = changes_for(integration.provider_kind)
    provider = factory.accounting_provider(rt, integration, priority="bulk")
    rows = ledger_store.all_links(rt.db, integration.id)
    if job_id:
        jobs.record(rt.db, job_id, jobs.Progress(total=len(rows)))
    chunk = getattr(module, "VERIFY_CHUNK", CHUNK)
    counts = {"checked": 0, "changes": 0}
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        changes = list(check_links(module, provider, part, via="verify"))
        recorded = [record_change(rt, integration.id, change) for change in changes]
        counts["checked"] += len(part)
        counts["changes"] += len(changes)
        if job_id and jobs.record(rt.db, job_id, jobs.Progress(
                done=len(part), errors=_errors(changes, recorded))):
            break  # cancelled
    log.info("links verified", integration_id=integration.id, **counts)
    return counts


def _errors(changes: Iterable[ChangeSeen], recorded: Iterable[str | None]) -> list[dict[str, Any]]:
    return [{"contact_id": c.contact_id, "error": f"contact {c.operation}", "event_id": e}
            for c, e in zip(changes, recorded, strict=True)]
