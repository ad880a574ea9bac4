"""The ledger's settings and its periodic work (the scheduler's hook)."""
from __future__ import annotations

from typing import Any

import pytest

from core.errors import ConfigError
from core.ledger_settings import LedgerSettings
from core.models import Contact, JobStatus
from core.store import jobs, links
from core.store import ledger as ledger_store
from core.store.links import LinkWrite
from tests.support import create_integration
from workers import ledger_verify, scheduler
from workers.bulk import jobs as bulk_jobs


def test_settings_defaults_and_refusals() -> None:
    assert LedgerSettings.from_env({}) == LedgerSettings(None, 900, 7.0)
    assert LedgerSettings.from_env({"LEDGER_POLL_INTERVAL_SECONDS": "0"}).poll_interval_seconds == 0
    for bad in ("soon", "-1"):
        with pytest.raises(ConfigError, match="LEDGER_POLL_INTERVAL_SECONDS"):
            LedgerSettings.from_env({"LEDGER_POLL_INTERVAL_SECONDS": bad})


def test_the_scheduler_takes_the_ledger_intervals_from_the_settings(rt: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("LEDGER_POLL_INTERVAL_SECONDS", "60")
    on = {p.name: p for p in scheduler.jobs(rt)}
    assert on["ledger_poll"].interval == 60 and on["ledger_poll"].due(now=1e9)
    assert on["verify_links"].due(now=1e9)
    monkeypatch.setenv("LEDGER_POLL_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("LINK_VERIFY_INTERVAL_DAYS", "0")
    off = {p.name: p for p in scheduler.jobs(rt)}
    assert not off["ledger_poll"].due(now=1e9) and not off["verify_links"].due(now=1e9)


def test_verification_is_started_when_due_and_not_twice(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    created = create_integration(client, admin, sandbox, "xero")
    assert scheduler.verify_links_due(rt) == 1
    job = jobs.unfinished(rt.db, created["id"], ledger_verify.KIND)
    assert job is not None
    assert scheduler.verify_links_due(rt) == 0  # one is already queued


def test_a_relink_clears_broken_and_broken_refuses_syncs(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    created = create_integration(client, admin, sandbox, "xero")
    link = links.save(rt.db, LinkWrite(created["id"], 7, "Acme", Contact(id="c-1", name="Acme"), None))
    assert ledger_store.sync_refusal(rt.db, created["id"], 7) is None
    ledger_store.set_link_status(rt.db, link.id, "broken", "the linked contact c-1 was archived; relink")
    assert ledger_store.sync_refusal(rt.db, created["id"], 7) == "the linked contact c-1 was archived; relink"
    links.save(rt.db, LinkWrite(created["id"], 7, "Acme", Contact(id="c-2", name="Acme"), None))
    assert ledger_store.link_status(rt.db, created["id"], 7) == ("ok", None)


def test_a_verify_job_runs_as_every_job_so_a_stale_one_is_resumed(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    """Regression: a verify-links job whose message was lost, or whose worker died, is sent
    again by ``requeue_stale`` as a ``run_job`` message, like every job. It ran only under an
    actor of its own, so ``run_job`` failed it ("internal error: KeyError")."""
    created = create_integration(client, admin, sandbox, "xero")
    job = jobs.create(rt.db, created["id"], ledger_verify.KIND)
    assert bulk_jobs.run_job(rt, job.id) == JobStatus.SUCCEEDED
    stored = jobs.get(rt.db, job.id)
    assert stored is not None and stored.status == JobStatus.SUCCEEDED
