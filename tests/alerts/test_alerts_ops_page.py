"""The ops page's alerts section: where alerts go (hosts, never the secret URLs) and the list."""
from __future__ import annotations

from core.alerts import deliver, detect
from core.store import integrations
from core.store.integrations import NewIntegration


def test_alerts_page_shows_settings_and_delivery(rt, alert_config, client, admin, http_receiver):
    integration, _ = integrations.create(rt.db, rt.vault, NewIntegration("Acme to Sage", "sage", "acme"))
    integrations.update(rt.db, integration.id, webhooks_registered=True)
    integrations.set_status(rt.db, integration.id, "reconnect_needed", "Sage refused the refresh token")
    detect.run_pass(rt, alert_config)
    deliver.deliver_due(rt.db, alert_config)

    page = client.get("/ops/alerts", headers=admin)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "127.0.0.1" in html and "secret-path" not in html and "signed" in html
    assert "ops@example.test" in html and "every 15 min" in html
    assert "Acme to Sage needs reconnecting: Sage refused the refresh token" in html
    assert 'badge-sent' in html


def test_alerts_page_says_when_nothing_receives_them(rt, client, admin):
    from core import alert_settings
    from core.alert_settings import AlertSettings

    alert_settings.install(AlertSettings.from_env({}))
    try:
        html = client.get("/ops/alerts", headers=admin).get_data(as_text=True)
    finally:
        alert_settings.install(None)
    assert "No receiver is set" in html and "No alerts yet." in html


def test_alerts_page_needs_signing_in(client):
    assert client.get("/ops/alerts").status_code == 401
