"""The ops page's Resolve and Retry now, and the "needs attention" filter."""
from __future__ import annotations

from datetime import timedelta

from core.tables import Event, utcnow
from tests.webhooks.events_api.test_events_resolution import _event, _integration


def test_resolve_from_the_event_page(rt, client, admin):
    failed = _event(rt, _integration(rt), "failed")
    page = client.get(f"/ops/events/{failed}", headers=admin).get_data(as_text=True)
    assert "Resolve</button>" in page
    answer = client.post(f"/ops/events/{failed}/resolve", data={"note": "merged by hand"}, headers=admin)
    assert answer.status_code == 302
    page = client.get(f"/ops/events/{failed}", headers=admin).get_data(as_text=True)
    assert "Resolved" in page and "merged by hand" in page and "Resolve</button>" not in page
    listing = client.get("/ops?needs_attention=true", headers=admin).get_data(as_text=True)
    assert failed not in listing


def test_superseded_is_shown(rt, client, admin):
    integration_id = _integration(rt)
    failed = _event(rt, integration_id, "failed", ago=60)
    later = _event(rt, integration_id, "succeeded")
    page = client.get(f"/ops/events/{failed}", headers=admin).get_data(as_text=True)
    assert "Superseded" in page and later[:8] in page
    assert "badge-superseded" in client.get("/ops", headers=admin).get_data(as_text=True)


def test_retry_now_button(rt, client, admin, redis_client):
    waiting = _event(rt, _integration(rt), "retrying", next_attempt_at=utcnow() + timedelta(hours=1))
    assert "Retry now" in client.get("/ops", headers=admin).get_data(as_text=True)
    answer = client.post("/ops/retry-now", data={}, headers=admin)
    assert answer.status_code == 302 and "status=retrying" in answer.headers["Location"]
    with rt.db.reading() as session:
        assert session.get(Event, waiting).next_attempt_at <= utcnow()
    assert redis_client.llen("dramatiq:sync") == 1
