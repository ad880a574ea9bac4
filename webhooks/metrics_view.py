"""``GET /metrics`` (Prometheus text format, open like ``/healthz``).

Process counters (provider calls, waits, refreshes) come from prometheus-client; what the
whole service knows (events by status and integration, queue depth) is read at scrape time
from the database and Redis, so it is right whichever process did the work.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily
from sqlalchemy import func, select

from core.runtime import Runtime
from core.tables import Event
from workers.broker import BULK_QUEUE, NAMESPACE, SYNC_QUEUE

blueprint = Blueprint("metrics", __name__)


class ServiceCollector:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self):  # type: ignore[no-untyped-def]
        events = GaugeMetricFamily("events", "Events by status and integration",
                                   labels=["status", "integration_id"])
        with self.rt.db.session() as session:
            for status, integration_id, count in session.execute(
                select(Event.status, Event.integration_id, func.count()).group_by(Event.status, Event.integration_id)
            ):
                events.add_metric([status, integration_id], count)
        yield events
        depth = GaugeMetricFamily("queue_depth", "Messages waiting per queue", labels=["queue"])
        try:
            for queue in (SYNC_QUEUE, BULK_QUEUE):
                depth.add_metric([queue], self.rt.redis.llen(f"{NAMESPACE}:{queue}"))
        except Exception:  # Redis down: the gauge is simply absent
            pass
        yield depth


@blueprint.get("/metrics")
def metrics() -> Response:
    from prometheus_client import REGISTRY

    rt: Runtime = current_app.extensions["runtime"]
    registry = CollectorRegistry()
    registry.register(ServiceCollector(rt))
    body = generate_latest(REGISTRY) + generate_latest(registry)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
