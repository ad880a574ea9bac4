"""The periodic work, in one small process (``python -m workers.scheduler``, Procfile
``scheduler:``): the outbox relay every second, the reconciliation poll, event retention and
the OAuth keep-alive.

Several schedulers may run (one per machine): a Redis lease elects one leader at a time, so
each periodic job runs once per period across the service.
"""
from __future__ import annotations

import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import structlog

from core import logging as app_logging
from core.integration_settings import IntegrationSettings
from core.ledger_settings import LedgerSettings
from core.models import IntegrationStatus
from core.runtime import Runtime, runtime
from core.store import integrations
from core.store import jobs as store_jobs
from core.tables import utcnow
from providers import factory, registry, webhook_registration
from workers import alerts, ledger_verify, messages, outbox
from workers.bulk import jobs as bulk_jobs
from workers.bulk.jobs import requeue_stale
from workers.ledger_poll import poll_all as ledger_poll_all
from workers.retention import prune_events

log = structlog.get_logger(__name__)

LEADER_KEY = "scheduler:leader"
LEADER_TTL_MS = 10_000
RELAY_INTERVAL = 1.0
RETENTION_INTERVAL = 3600.0
REPOINT_INTERVAL = 10.0
KEEPALIVE_INTERVAL = 6 * 3600.0
#: Refresh an idle integration's tokens when its access token expired this long ago: each
#: provider class's ``keepalive_idle``, well inside its refresh-token lifetime.
KEEPALIVE_IDLE = registry.KEEPALIVE_IDLE


@dataclass
class Periodic:
    name: str
    interval: float
    run: Callable[[Runtime], object]
    last: float = field(default=0.0)

    def due(self, now: float) -> bool:
        return self.interval > 0 and now - self.last >= self.interval


def reconcile_all(rt: Runtime) -> int:
    active = [i for i in integrations.all_active(rt.db) if i.status == IntegrationStatus.ACTIVE]
    for integration in active:
        messages.send(messages.RECONCILE_INTEGRATION, integration.id)
    return len(active)


def prune(rt: Runtime) -> int:
    return prune_events(rt)


def keep_alive(rt: Runtime) -> int:
    """Refresh tokens that have not been used for long, so idle integrations stay connected."""
    refreshed = 0
    for integration in integrations.all_active(rt.db):
        if integration.status != IntegrationStatus.ACTIVE:
            continue
        stored = factory.token_set(integrations.secrets_of(rt.vault, integration))
        # Inside the try: a kind no provider serves any more (KeyError) must not end the pass.
        try:
            idle_for = KEEPALIVE_IDLE[integration.provider_kind]
            if not (stored.refresh_token and stored.expires_at < utcnow() - idle_for):
                continue
            factory.accounting_provider(rt, integration).context.tokens.access_token()
            refreshed += 1
        except Exception as error:  # recorded on the integration by the token source
            log.warning("keep-alive refresh failed", integration_id=integration.id,
                        error=type(error).__name__)
    return refreshed


def relay(rt: Runtime) -> object:
    """Events first (the outbox), then bulk jobs whose worker died or whose message was lost."""
    sent = outbox.relay_once(rt)
    requeue_stale(rt)
    return sent


def finish_webhook_repoints(rt: Runtime) -> int:
    """Webhooks left to re-point after a rotation that met the rental system's rate limit."""
    return webhook_registration.finish_pending(rt)


#: How often the scheduler looks for integrations whose links are due for verification.
VERIFY_CHECK_SECONDS = 3600.0


def verify_links_due(rt: Runtime) -> int:
    """Start a verify-links job for every active integration whose links were last verified
    longer ago than ``LINK_VERIFY_INTERVAL_DAYS`` (0: never), unless one is unfinished."""
    days = LedgerSettings.from_env().verify_interval_days
    if days <= 0:
        return 0
    started = 0
    for integration in integrations.all_active(rt.db):
        last = IntegrationSettings.of(integration).state_of(ledger_verify.STATE_KEY).get("last_run")
        due = last is None or datetime.fromisoformat(last) < utcnow() - timedelta(days=days)
        if (integration.status == IntegrationStatus.ACTIVE and due
                and store_jobs.unfinished(rt.db, integration.id, ledger_verify.KIND) is None):
            bulk_jobs.start(rt, integration.id, ledger_verify.KIND)
            started += 1
    return started


def jobs(rt: Runtime) -> list[Periodic]:
    ledger = LedgerSettings.from_env()
    return [
        Periodic("relay", RELAY_INTERVAL, relay),
        Periodic("webhook_repoints", REPOINT_INTERVAL, finish_webhook_repoints),
        Periodic("reconcile", float(rt.settings.reconcile_interval_seconds), reconcile_all),
        Periodic("retention", RETENTION_INTERVAL, prune),
        Periodic("keep_alive", KEEPALIVE_INTERVAL, keep_alive),
        Periodic("alerts", alerts.check_interval(), alerts.check_and_send),
        Periodic("ledger_poll", float(ledger.poll_interval_seconds), ledger_poll_all),
        Periodic("verify_links", VERIFY_CHECK_SECONDS if ledger.verify_interval_days > 0 else 0.0, verify_links_due),
    ]


class Scheduler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.identity = uuid.uuid4().hex
        self.jobs = jobs(rt)
        self.stopping = threading.Event()

    def is_leader(self) -> bool:
        """Take or keep the leader lease (SET NX, then extend only if it is ours)."""
        redis = self.rt.redis
        if redis.set(LEADER_KEY, self.identity, nx=True, px=LEADER_TTL_MS):
            return True
        if redis.get(LEADER_KEY) == self.identity.encode():
            redis.pexpire(LEADER_KEY, LEADER_TTL_MS)
            return True
        return False

    def tick(self) -> None:
        now = time.monotonic()
        for job in self.jobs:
            if not job.due(now):
                continue
            job.last = now
            try:
                job.run(self.rt)
            except Exception:  # Redis or the database down: the next tick tries again
                log.exception("periodic job failed", job=job.name)

    def run_forever(self) -> None:
        log.info("scheduler started", jobs=[j.name for j in self.jobs])
        while not self.stopping.wait(0.5):
            try:
                leader = self.is_leader()
            except Exception:
                log.warning("redis unavailable; scheduler waiting")
                continue
            if leader:
                self.tick()


def main() -> None:
    app_logging.configure()
    scheduler = Scheduler(runtime())
    signal.signal(signal.SIGTERM, lambda *_: scheduler.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: scheduler.stopping.set())
    scheduler.run_forever()


if __name__ == "__main__":
    main()
