"""The overview refreshes itself and draws events per minute by status as an inline SVG."""
from __future__ import annotations

from tests.webhooks.events_api.test_events_resolution import _event, _integration


def test_overview_refreshes_and_draws_the_last_hour(rt, client, admin):
    integration_id = _integration(rt)
    for organisation in range(3):
        _event(rt, integration_id, "succeeded", organisation_id=organisation + 10)
    _event(rt, integration_id, "failed", organisation_id=99, ago=20 * 60)
    _event(rt, integration_id, "succeeded", organisation_id=98, ago=2 * 3600)  # outside the hour
    answer = client.get("/ops", headers=admin)
    page = answer.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="15">' in page
    assert "<svg class=\"throughput\"" in page and "<script" not in page.split("</head>")[1]
    assert page.count('class="bar bar-succeeded"') == 1 and "3 succeeded, 0 min ago" in page
    assert page.count('class="bar bar-failed"') == 1 and "1 failed, 20 min ago" in page
    # The CSP is as strict as before: no inline script or style allowed.
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "unsafe" not in policy
