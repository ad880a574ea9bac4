"""Queue figures from the Redis broker, ``/metrics``, ``/healthz`` and ``/readyz`` (with Redis
down), and event retention."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import dramatiq
import pytest

from core.models import Contact
from core.runtime import Runtime
from core.store import events, links
from core.store.links import LinkWrite
from core.tables import utcnow
from tests.support import create_integration
from tests.webhooks.ops_support import make_event
from webhooks import create_app, queues
from workers import broker as broker_module
from workers import retention
from workers.broker import SYNC_QUEUE


def enqueue(queue: str, *, age_seconds: float = 0.0, delay_ms: int | None = None) -> dramatiq.Message:
    message = dramatiq.Message(queue_name=queue, actor_name="sync_event", args=("x",), kwargs={},
                               options={}, message_timestamp=int((time.time() - age_seconds) * 1000))
    return broker_module.broker.enqueue(message, delay=delay_ms)  # built from the test's runtime


def test_queue_stats_read_depth_delayed_dead_and_oldest_age(rt: Any) -> None:
    # Given two waiting messages (the first two minutes old), one delayed, one dead-lettered
    enqueue(SYNC_QUEUE, age_seconds=120)
    enqueue(SYNC_QUEUE)
    enqueue(SYNC_QUEUE, delay_ms=60_000)
    rt.redis.zadd(f"dramatiq:{SYNC_QUEUE}.XQ", {"dead-id": time.time() * 1000})

    # When the figures are read
    sync, bulk = queues.all_stats(rt)

    # Then each is what the broker holds
    assert (sync.name, sync.depth, sync.delayed, sync.dead) == ("sync", 2, 1, 1)
    assert 119 <= sync.oldest_age_seconds < 130
    assert (bulk.name, bulk.depth, bulk.delayed, bulk.dead, bulk.oldest_age_seconds) == ("bulk", 0, 0, 0, None)


def test_ops_page_and_metrics_show_the_queues(client: Any, admin: Any, rt: Any) -> None:
    enqueue(SYNC_QUEUE, age_seconds=600)
    html = client.get("/ops", headers=admin).text
    tile = html[html.index('data-queue="sync"'):html.index('data-queue="bulk"')]
    assert '<dd class="queue-depth">1</dd>' in tile and "10m 0s" in tile
    text = client.get("/metrics").text
    assert 'queue_depth{queue="sync"} 1.0' in text
    assert 'queue_delayed{queue="sync"} 0.0' in text
    assert 'queue_dead_letters{queue="bulk"} 0.0' in text
    age = float(text.split('queue_oldest_message_age_seconds{queue="sync"} ')[1].split()[0])
    assert 599 <= age < 620


def test_metrics_count_events_by_status_and_integration_and_name_every_family(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    integration = create_integration(client, admin, sandbox, "xero")
    for status in ("failed", "failed", "succeeded"):
        make_event(rt, integration["id"], status=status)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.text
    assert f'events{{integration_id="{integration["id"]}",status="failed"}} 2.0' in text
    assert f'events{{integration_id="{integration["id"]}",status="succeeded"}} 1.0' in text
    # creating the integration called the rental system (webhook registration) over HTTP
    assert 'provider_calls_total{status="201",system="current_rms"}' in text
    for family in ("sync_duration_seconds", "provider_calls_total", "rate_limit_waits_total",
                   "token_refreshes_total", "queue_depth"):
        assert f"# TYPE {family}" in text, family


def test_healthz_and_readyz_when_all_is_well(client: Any, rt: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_naming_redis_when_it_is_down_and_the_page_says_so(rt: Any, admin: Any) -> None:
    # Given a runtime whose Redis does not answer (nothing listens on port 1)
    down = Runtime.from_settings(rt.settings.with_overrides(redis_url="redis://127.0.0.1:1/0"))
    client = create_app({"TESTING": True}, rt=down).test_client()
    try:
        # Then the process is up but not ready, and the ops page and metrics still answer
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["checks"]["database"] == "ok"
        assert ready.get_json()["checks"]["redis"].startswith("error: ")
        page = client.get("/ops", headers=admin)
        assert page.status_code == 200 and "Redis is not answering" in page.text
        assert client.get("/metrics").status_code == 200
    finally:
        down.close()


def test_readyz_is_503_when_the_database_is_gone(rt: Any, tmp_path: Any) -> None:
    broken = Runtime.from_settings(rt.settings.with_overrides(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    client = create_app({"TESTING": True}, rt=broken).test_client()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["checks"]["database"].startswith("error: ")
    finally:
        broken.close()


def test_retention_prunes_old_events_failed_ones_included_never_links(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    # Given events either side of 90 days, and a link
    integration = create_integration(client, admin, sandbox, "xero")
    old_failed = make_event(rt, integration["id"], status="failed", received_at=utcnow() - timedelta(days=91))
    old_ok = make_event(rt, integration["id"], status="succeeded", received_at=utcnow() - timedelta(days=90, hours=1))
    recent = make_event(rt, integration["id"], status="failed", received_at=utcnow() - timedelta(days=89))
    links.save(rt.db, LinkWrite(integration_id=integration["id"], organisation_id=5, organisation_name="Five",
                                contact=Contact(id="c5", name="Five"), fields_hash=None))

    # When the retention job runs
    removed = retention.prune_events(rt)

    # Then the two old events and their attempts are gone; the rest stays
    assert removed == 2
    assert events.get(rt.db, old_failed) is None and events.get(rt.db, old_ok) is None
    assert events.get(rt.db, recent) is not None
    assert events.attempts_of(rt.db, [old_failed])[old_failed] == []
    assert links.get(rt.db, integration["id"], 5) is not None
    assert retention.prune_events(rt) == 0


@pytest.mark.parametrize("days, kept", [(1, 1), (0, 2)])
def test_retention_days_setting(rt: Any, client: Any, admin: Any, sandbox: Any, days: int, kept: int) -> None:
    integration = create_integration(client, admin, sandbox, "xero")
    make_event(rt, integration["id"], received_at=utcnow() - timedelta(days=2))
    make_event(rt, integration["id"])
    short = Runtime(settings=rt.settings.with_overrides(event_retention_days=days), db=rt.db, redis=rt.redis, vault=rt.vault)
    retention.prune_events(short)
    assert len(events.ids_matching(rt.db, events.EventFilter())) == kept
