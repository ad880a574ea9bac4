"""Favicon, a sign-in page answering 200, organisation names, where events came from, and
"Delayed" counting the events that wait for their next attempt."""
from __future__ import annotations

from datetime import timedelta

from core.models import Contact
from core.store import links
from core.store.links import LinkWrite
from core.tables import utcnow
from tests.webhooks.events_api.test_events_resolution import _event, _integration


def test_favicon_and_sign_in_page(client, admin):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.content_type == "image/svg+xml" and b"<svg" in icon.data
    page = client.get("/ops/sign-in")
    assert page.status_code == 200 and 'name="token"' in page.get_data(as_text=True)
    assert client.get("/ops").status_code == 401  # interface §8: /ops itself still answers 401
    assert client.get("/ops/sign-in", headers=admin).status_code == 302  # signed in already


def test_event_lists_show_the_organisation_name_and_origin(rt, client, admin):
    integration_id = _integration(rt)
    _event(rt, integration_id, "failed", organisation_id=205101)
    poll = _event(rt, integration_id, "succeeded", organisation_id=7)
    with rt.db.session() as session:
        from core.tables import Event

        session.get(Event, poll).source_event_id = "poll:7:2026-12-01T00:00:00Z"
    links.save(rt.db, LinkWrite(integration_id=integration_id, organisation_id=205101,
                                organisation_name="The Festival Of Testing",
                                contact=Contact(id="c-1", name="Festival"), fields_hash=None))
    page = client.get("/ops", headers=admin).get_data(as_text=True)
    assert "The Festival Of Testing" in page
    assert "reconciliation poll" in page and "webhook" in page
    event_page = client.get(f"/ops/events/{poll}", headers=admin).get_data(as_text=True)
    assert "From reconciliation poll" in event_page


def test_delayed_counts_events_waiting_for_their_next_attempt(rt, client, admin, redis_client):
    integration_id = _integration(rt)
    _event(rt, integration_id, "retrying", next_attempt_at=utcnow() + timedelta(minutes=5))
    _event(rt, integration_id, "queued", organisation_id=3, next_attempt_at=utcnow() + timedelta(seconds=30))
    _event(rt, integration_id, "retrying", organisation_id=4, next_attempt_at=utcnow() - timedelta(seconds=1))
    page = client.get("/ops", headers=admin).get_data(as_text=True)
    tile = page[page.index('data-queue="sync"'):]
    assert "<dt>Delayed</dt><dd>2</dd>" in tile[:600]
