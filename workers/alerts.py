"""The alerts' two moving parts (CONTRACT §12), neither on a sync's path:

- ``check_and_send`` (the scheduler, every ``ALERT_CHECK_SECONDS``): the detection pass records
  new alerts, then one ``deliver_alerts`` message is sent if any alert is due;
- ``deliver_alerts`` (a Dramatiq actor on its own ``alerts`` queue, so a slow receiver never
  holds a sync message back): sends what is due, with retries and backoff for 24 hours.

The database holds every alert and its next attempt, so a lost message costs nothing: the next
check sends another.
"""
from __future__ import annotations

import dramatiq

from core.alert_settings import alert_settings
from core.alerts import deliver, detect, store
from core.runtime import Runtime, runtime
from workers.broker import broker  # noqa: F401 - sets the broker before the actor is declared

ALERTS_QUEUE = "alerts"

# A malformed alert setting stops the worker and the scheduler at start, naming the variable.
alert_settings()


@dramatiq.actor(queue_name=ALERTS_QUEUE, max_retries=0, time_limit=10 * 60 * 1000)
def deliver_alerts() -> None:
    deliver.deliver_due(runtime().db, alert_settings())


def check_and_send(rt: Runtime) -> int:
    """The scheduler's periodic job: record what is new, ask a worker to send what is due."""
    recorded = detect.run_pass(rt, alert_settings())
    if store.due_ids(rt.db, limit=1):
        deliver_alerts.send()
    return len(recorded)


def check_interval() -> float:
    return alert_settings().check_seconds
