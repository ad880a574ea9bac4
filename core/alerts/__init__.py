"""Alerts (interface §12): someone is told when events fail or an integration needs them.

- ``detect``: a pass that reads the database and the queues and records an alert for each new
  condition (no hook in the sync path: a sync only writes its event's status, and alerting can
  neither slow nor break it);
- ``store``: the ``alerts`` rows (recorded before any send; claimed for delivery by a
  conditional update, so two workers never send one alert twice at once);
- ``send``: the receivers: Slack-compatible / signed JSON webhooks and email over SMTP;
- ``deliver``: one delivery pass with retries and backoff until 24 hours have passed.
"""
from __future__ import annotations

KINDS = (
    "events_failed",
    "integration_reconnect_needed",
    "links_broken",
    "webhooks_unregistered",
    "queue_stalled",
)
DELIVERY_STATUSES = ("pending", "sent", "failed", "no_receivers")
