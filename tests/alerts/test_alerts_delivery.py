"""Alerts (interface §12) against real receivers on loopback: a signed JSON webhook and SMTP.

The detection pass reads the database and the queues; the tests put the conditions there (a
failed event, an integration to reconnect, an old message in the sync queue) and check what
the receivers got, the signature included, and what ``GET /api/alerts`` says.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.alerts import deliver, detect
from core.store import integrations
from core.store.integrations import NewIntegration
from core.tables import Alert, Event, utcnow
from tests.support import wait_for

SECRET = "whsec-test-secret"


def _integration(rt: Any, name: str = "Acme to Xero", **values: Any) -> str:
    integration, _ = integrations.create(rt.db, rt.vault, NewIntegration(name, "xero", "acme"))
    integrations.update(rt.db, integration.id, webhooks_registered=True, **values)
    return integration.id


def _failed_event(rt: Any, integration_id: str, error: str, *, at: datetime | None = None) -> str:
    at = at or utcnow()
    with rt.db.session() as session:
        event = Event(integration_id=integration_id, source_event_id=f"a{time.monotonic_ns()}",
                      organisation_id=205101, subject_type="Member", kind="update", status="failed",
                      attempts=1, received_at=at, finished_at=at, last_error=error, payload={})
        session.add(event)
        session.flush()
        return event.id


def _verify(received: Any) -> dict[str, Any]:
    """The receiver's check of ``X-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    header = received.headers["X-Signature"]
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected), "signature does not verify"
    assert abs(int(parts["t"]) - time.time()) < 300
    return json.loads(received.body)


def _alerts(rt: Any) -> list[Alert]:
    with rt.db.reading() as session:
        return list(session.query(Alert).order_by(Alert.created_at))


def test_failed_events_digest_reaches_webhook_and_email(rt, alert_config, http_receiver, smtp_receiver, client, admin):
    integration_id = _integration(rt)
    for contact in ("4f1c2d3e-1111-2222-3333-444455556666", "77ab2d3e-1111-2222-3333-444455556666"):
        _failed_event(rt, integration_id, f"contact {contact} no longer exists or is archived")
    _failed_event(rt, integration_id, "HTTP 400: The Account Number \"ACC-1\" already exists")

    recorded = detect.run_pass(rt, alert_config)
    assert len(recorded) == 1
    # Recorded before anything is sent: the row exists, nothing has arrived.
    assert [a.status for a in _alerts(rt)] == ["pending"] and http_receiver.received == []

    assert deliver.deliver_due(rt.db, alert_config) == 1
    assert len(http_receiver.received) == 1
    alert = _verify(http_receiver.received[0])
    assert alert["alert"] == "events_failed" and alert["count"] == 3
    assert alert["integration_id"] == integration_id and alert["integration_name"] == "Acme to Xero"
    assert alert["reasons"][0] == "2 × contact <id> no longer exists or is archived"
    assert "Acme to Xero: 3 events failed" in alert["text"]
    assert alert["ops_url"].endswith(f"/ops?integration={integration_id}&status=failed")

    assert len(smtp_receiver.messages) == 1
    mail_from, recipients, message = smtp_receiver.messages[0]
    assert recipients == ["ops@example.test", "oncall@example.test"]
    assert message["Subject"] == "[alert] events failed: Acme to Xero"
    assert "3 events failed" in message.get_payload()

    listed = client.get("/api/alerts", headers=admin).get_json()["alerts"]
    assert len(listed) == 1 and listed[0]["alert"] == "events_failed"
    assert listed[0]["delivery"]["status"] == "sent"
    assert {r["target"]: r["status"] for r in listed[0]["delivery"]["receivers"]} == {"webhook": "sent", "email": "sent"}
    # The webhook URL (a secret for Slack) is never shown: only its host.
    assert "secret-path" not in json.dumps(listed)


def test_at_most_one_digest_per_integration_per_period(rt, alert_config, http_receiver):
    integration_id = _integration(rt)
    _failed_event(rt, integration_id, "first")
    assert len(detect.run_pass(rt, alert_config)) == 1
    _failed_event(rt, integration_id, "second")
    assert detect.run_pass(rt, alert_config) == []  # inside ALERT_DIGEST_MINUTES

    later = utcnow() + timedelta(minutes=16)
    recorded = detect.run_pass(rt, alert_config, now=later)
    assert len(recorded) == 1
    digests = [a for a in _alerts(rt) if a.kind == "events_failed"]
    assert [d.payload["count"] for d in digests] == [1, 1]
    assert digests[1].payload["reasons"] == ["second"]  # the first is not counted twice
    assert detect.run_pass(rt, alert_config, now=later + timedelta(minutes=16)) == []  # nothing new


def test_a_refused_delivery_is_retried_with_backoff_and_sent_once_per_receiver(rt, alert_config, http_receiver, smtp_receiver):
    http_receiver.statuses = [500, 503]
    _failed_event(rt, _integration(rt), "boom")
    detect.run_pass(rt, alert_config)

    assert deliver.deliver_due(rt.db, alert_config) == 0
    [alert] = _alerts(rt)
    assert alert.status == "pending" and alert.attempts == 1 and alert.next_attempt_at > utcnow()
    assert "HTTP 500" in alert.last_error
    assert len(smtp_receiver.messages) == 1  # email went through; it is not sent again

    wait_for(lambda: deliver.deliver_due(rt.db, alert_config) >= 0 and _alerts(rt)[0].attempts == 2,
             timeout=5, what="the second attempt")
    wait_for(lambda: deliver.deliver_due(rt.db, alert_config) >= 0 and _alerts(rt)[0].status == "sent",
             timeout=5, what="the third attempt")
    [alert] = _alerts(rt)
    assert alert.attempts == 3 and len(http_receiver.received) == 3
    assert len(smtp_receiver.messages) == 1
    bodies = {r.body for r in http_receiver.received}
    assert len(bodies) == 1  # the same alert each time


def test_delivery_gives_up_after_the_retry_period(rt, http_receiver, smtp_receiver):
    from core.alert_settings import AlertSettings

    settings = AlertSettings.from_env({
        "ALERT_WEBHOOK_URLS": http_receiver.url, "ALERT_RETRY_MIN_SECONDS": "5",
        "ALERT_GIVE_UP_SECONDS": "2",
    })
    http_receiver.statuses = [500] * 10
    _failed_event(rt, _integration(rt), "boom")
    detect.run_pass(rt, settings)
    deliver.deliver_due(rt.db, settings)
    [alert] = _alerts(rt)
    assert alert.status == "failed" and alert.next_attempt_at is None
    assert alert.deliveries[0]["status"] == "failed" and alert.deliveries[0]["last_error"] == "HTTP 500"


def test_an_unreachable_receiver_is_a_failed_attempt(rt, alert_config, smtp_receiver):
    from core.alert_settings import AlertSettings
    from tests.alerts.receivers import free_port

    settings = AlertSettings.from_env({"ALERT_WEBHOOK_URLS": f"http://127.0.0.1:{free_port()}/x",
                                       "ALERT_RETRY_MIN_SECONDS": "60"})
    _failed_event(rt, _integration(rt), "boom")
    detect.run_pass(rt, settings)
    assert deliver.deliver_due(rt.db, settings) == 0
    [alert] = _alerts(rt)
    assert alert.status == "pending" and "no answer (ConnectionError)" in alert.last_error


def test_reconnect_needed_is_alerted_once_per_episode(rt, alert_config, http_receiver):
    integration_id = _integration(rt)
    integrations.set_status(rt.db, integration_id, "reconnect_needed", "Xero refused the refresh token (invalid_grant)")
    assert len(detect.run_pass(rt, alert_config)) == 1
    assert detect.run_pass(rt, alert_config) == []  # still the same episode

    integrations.set_status(rt.db, integration_id, "active")
    assert detect.run_pass(rt, alert_config) == []  # cleared
    integrations.set_status(rt.db, integration_id, "reconnect_needed", "again")
    assert len(detect.run_pass(rt, alert_config)) == 1

    deliver.deliver_due(rt.db, alert_config)
    sent = [_verify(r) for r in http_receiver.received]
    assert [a["alert"] for a in sent] == ["integration_reconnect_needed"] * 2
    assert sent[0]["reasons"] == ["Xero refused the refresh token (invalid_grant)"]
    assert sent[0]["ops_url"].endswith(f"/ops/integrations/{integration_id}")


def test_webhooks_unregistered_is_alerted(rt, alert_config, http_receiver):
    integration_id = _integration(rt)
    integrations.update(rt.db, integration_id, webhooks_registered=False,
                        webhook_error="Current RMS answered 403 to POST /webhooks")
    detect.run_pass(rt, alert_config)
    deliver.deliver_due(rt.db, alert_config)
    [sent] = [_verify(r) for r in http_receiver.received]
    assert sent["alert"] == "webhooks_unregistered"
    assert sent["reasons"] == ["Current RMS answered 403 to POST /webhooks"]


def test_a_stalled_queue_is_alerted(rt, alert_config, http_receiver, redis_client):
    # A message enqueued 11 minutes ago that no worker has fetched, as Dramatiq stores it.
    stamp_ms = int((time.time() - 11 * 60) * 1000)
    redis_client.rpush("dramatiq:sync", "m1")
    redis_client.hset("dramatiq:sync.msgs", "m1", json.dumps({"message_timestamp": stamp_ms}))
    detect.run_pass(rt, alert_config)
    deliver.deliver_due(rt.db, alert_config)
    [sent] = [_verify(r) for r in http_receiver.received]
    assert sent["alert"] == "queue_stalled" and sent["integration_id"] is None
    assert sent["reasons"] == ["queue sync: oldest message 11 min old"]


def test_without_receivers_alerts_are_still_recorded(rt):
    from core.alert_settings import AlertSettings

    _failed_event(rt, _integration(rt), "boom")
    detect.run_pass(rt, AlertSettings.from_env({}))
    [alert] = _alerts(rt)
    assert alert.status == "no_receivers" and alert.deliveries == []


def test_alerts_api_filters_and_refuses_bad_queries(rt, alert_config, client, admin):
    integration_id = _integration(rt)
    _failed_event(rt, integration_id, "boom")
    integrations.set_status(rt.db, integration_id, "reconnect_needed", "refused")
    detect.run_pass(rt, alert_config)
    both = client.get("/api/alerts", headers=admin).get_json()
    assert sorted(a["alert"] for a in both["alerts"]) == ["events_failed", "integration_reconnect_needed"]
    one = client.get("/api/alerts?alert=events_failed&limit=1", headers=admin).get_json()
    assert [a["alert"] for a in one["alerts"]] == ["events_failed"]
    assert client.get("/api/alerts?limit=1", headers=admin).get_json()["next_cursor"]
    assert client.get("/api/alerts?alert=nope", headers=admin).status_code == 400
    assert client.get("/api/alerts?status=nope", headers=admin).status_code == 400
    assert client.get("/api/alerts?cursor=zzz", headers=admin).status_code == 400
    assert client.get("/api/alerts?limit=0", headers=admin).status_code == 400
    assert client.get("/api/alerts").status_code == 401


@pytest.mark.parametrize("name, value", [
    ("ALERT_DIGEST_MINUTES", "soon"), ("ALERT_DIGEST_MINUTES", "0"), ("SMTP_URL", "mail.example"),
    ("ALERT_WEBHOOK_URLS", "ftp://x"), ("ALERT_EMAILS", "not-an-address"),
])
def test_a_malformed_alert_setting_names_the_variable(name, value):
    from core.alert_settings import AlertSettings
    from core.errors import ConfigError

    env = {"SMTP_URL": "smtp://127.0.0.1:25", name: value}
    with pytest.raises(ConfigError, match=name):
        AlertSettings.from_env(env)


def test_the_actor_delivers_in_a_real_worker(rt, alert_config, http_receiver):
    """The scheduler's job records and asks; a Dramatiq worker on the ``alerts`` queue sends."""
    from tests.support import RunningWorker
    from workers.alerts import check_and_send

    _failed_event(rt, _integration(rt), "boom")
    with RunningWorker(rt, threads=1):
        assert check_and_send(rt) == 1
        wait_for(lambda: _alerts(rt)[0].status == "sent", timeout=15, what="the worker's delivery")
    assert _verify(http_receiver.received[0])["alert"] == "events_failed"
