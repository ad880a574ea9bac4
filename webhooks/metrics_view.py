"""``GET /metrics`` (Prometheus text format, open like ``/healthz``).

Process counters (provider calls, sync durations, rate-limit waits, token refreshes) come from
prometheus-client. They are counted in the process that did the work, mostly the worker: set
``PROMETHEUS_MULTIPROC_DIR`` (a directory every process of the host shares, emptied at start)
and this endpoint adds up every process's counters (prometheus-client's multiprocess mode).
What the whole service knows (events by status and integration, queue figures) is read at
scrape time from the database and the broker (Redis or RabbitMQ: ``webhooks.queues``), so it is
right whichever process did the work.
"""
from __future__ import annotations

import os
from typing import Iterator

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily, Metric

from core.runtime import Runtime
from core.store import event_counts
from webhooks import queues

blueprint = Blueprint("metrics", __name__)


class ServiceCollector:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        yield self._events()
        yield from self._queues()

    def _events(self) -> Metric:
        family = GaugeMetricFamily("events", "Events by status and integration",
                                   labels=["status", "integration_id"])
        # Kept counts (a few rows, read without the write lock), not a count of every event:
        # this endpoint is open to anyone and scraped in a loop.
        for integration_id, status, count in event_counts.by_integration_and_status(self.rt.db):
            family.add_metric([status, integration_id], count)
        return family

    def _queues(self) -> Iterator[Metric]:
        figures = {
            "depth": GaugeMetricFamily("queue_depth", "Messages waiting per queue", labels=["queue"]),
            "delayed": GaugeMetricFamily("queue_delayed", "Delayed messages per queue", labels=["queue"]),
            "dead": GaugeMetricFamily("queue_dead_letters", "Dead-lettered messages per queue", labels=["queue"]),
            "age": GaugeMetricFamily("queue_oldest_message_age_seconds",
                                     "Age of the oldest waiting message (0 when none waits or, on RabbitMQ, unknown)", labels=["queue"]),
        }
        try:
            stats = queues.all_stats(self.rt)
        except queues.QueuesUnknown:  # the broker is down: the queue gauges are simply absent
            return
        for queue in stats:
            figures["depth"].add_metric([queue.name], queue.depth)
            figures["delayed"].add_metric([queue.name], queue.delayed)
            figures["dead"].add_metric([queue.name], queue.dead)
            figures["age"].add_metric([queue.name], queue.oldest_age_seconds or 0.0)
        yield from figures.values()


def _process_counters() -> bytes:
    from prometheus_client import REGISTRY

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    return generate_latest(registry)


@blueprint.get("/metrics")
def metrics() -> Response:
    rt: Runtime = current_app.extensions["runtime"]
    registry = CollectorRegistry()
    registry.register(ServiceCollector(rt))
    return Response(_process_counters() + generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
