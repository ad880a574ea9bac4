"""The alerts' two moving parts (interface §12), neither on a sync's path:

- ``check_and_send`` (the scheduler, every ``ALERT_CHECK_SECONDS``): the detection pass records
  new alerts, then one ``deliver_alerts`` message is sent if any alert is due;
- ``deliver_due`` (run by the ``deliver_alerts`` actor of ``workers.actors``, on its own
  ``alerts`` queue, so a slow receiver never holds a sync message back): sends what is due,
  with retries and backoff for 24 hours.

The database holds every alert and its next attempt, so a lost message costs nothing: the next
check sends another.
"""
from __future__ import annotations

from core.alert_settings import alert_settings
from core.alerts import deliver, detect, store
from core.runtime import Runtime
from workers import messages

# A malformed alert setting stops the worker and the scheduler at start, naming the variable.
alert_settings()


def deliver_due(rt: Runtime) -> None:
    deliver.deliver_due(rt.db, alert_settings())


def check_and_send(rt: Runtime) -> int:
    """The scheduler's periodic job: record what is new, ask a worker to send what is due."""
    recorded = detect.run_pass(rt, alert_settings())
    if store.due_ids(rt.db, limit=1):
        messages.send(messages.DELIVER_ALERTS)
    return len(recorded)


def check_interval() -> float:
    return alert_settings().check_seconds
