"""The connection health page: counts, failures grouped by reason without identifiers, replay a group."""
from __future__ import annotations

from core.models import Contact
from core.store import links
from core.store.links import LinkWrite
from core.tables import Event
from tests.webhooks.events_api.test_events_resolution import _event, _integration


def _fail(rt, integration_id, organisation_id, reason, **values):
    event_id = _event(rt, integration_id, "failed", organisation_id=organisation_id, **values)
    with rt.db.session() as session:
        session.get(Event, event_id).outcome = {"action": None, "reason": reason}
    return event_id


def test_health_groups_alike_failures_and_replays_a_group(rt, client, admin, redis_client):
    integration_id = _integration(rt)
    a = _fail(rt, integration_id, 11, "contact 4f1c2d3e-1111-2222-3333-444455556666 no longer exists or is archived")
    b = _fail(rt, integration_id, 12, "contact 77ab2d3e-1111-2222-3333-444455556666 no longer exists or is archived")
    other = _fail(rt, integration_id, 13, "Xero refused: the Account Number \"ACC-1\" already exists")
    resolved = _fail(rt, integration_id, 14, "contact 99ab2d3e-1111-2222-3333-444455556666 no longer exists or is archived")
    client.post(f"/api/events/{resolved}/resolve", headers=admin)
    _event(rt, integration_id, "succeeded", organisation_id=15)
    links.save(rt.db, LinkWrite(integration_id=integration_id, organisation_id=11, organisation_name="Acme Hire",
                                contact=Contact(id="c-11", name="Acme Hire Ltd", url="http://127.0.0.1:9/c-11"),
                                fields_hash=None))

    page = client.get(f"/ops/integrations/{integration_id}/health", headers=admin).get_data(as_text=True)
    assert '<dd id="count-linked">1</dd>' in page
    assert '<dd id="count-unlinked">4</dd>' in page  # 12, 13, 14, 15 seen without a link
    assert '<dd id="count-failing">3</dd>' in page  # the resolved one is not failing
    group = page[page.index('data-pattern="contact &lt;id&gt; no longer exists or is archived"'):]
    group = group[:group.index("</tr>")]
    assert '<td class="num count-bad">2</td>' in group and "Acme Hire" in group and "contact Acme Hire Ltd" in group
    assert 'data-pattern="Xero refused: the Account Number &#34;…&#34; already exists"' in page

    answer = client.post(f"/ops/integrations/{integration_id}/health/replay",
                         data={"pattern": "contact <id> no longer exists or is archived"}, headers=admin)
    assert answer.status_code == 302
    statuses = {e: client.get(f"/api/events/{e}", headers=admin).get_json()["status"] for e in (a, b, other, resolved)}
    assert statuses == {a: "queued", b: "queued", other: "failed", resolved: "failed"}
    assert redis_client.llen("dramatiq:sync") == 2


def test_health_page_of_an_unknown_integration(client, admin):
    assert client.get(f"/ops/integrations/{'0' * 32}/health", headers=admin).status_code == 404
