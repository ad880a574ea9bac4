"""Operators, part two, in headless Chromium: signing in on a page that answers 200, the
workers view, alert settings and a delivered alert, a failed event resolved with a note, the
connection health page and a group replayed, and "Retry now". Screenshots land in
tests/browser/artifacts/ (gitignored)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

import pytest

from core.tables import Event, utcnow
from tests.browser.test_ops_browser import ARTIFACTS, browser_page, served  # noqa: F401 - fixtures
from tests.conftest import ADMIN_TOKEN
from tests.support import RunningWorker, seed_organisation, send_webhook, wait_event
from tests.webhooks.ops_support import CLASH_NUMBER, make_event, refused_contact


@pytest.fixture
def alert_receiver() -> Iterator[Any]:
    from core import alert_settings
    from core.alert_settings import AlertSettings
    from tests.alerts.receivers import start_http_receiver

    receiver = start_http_receiver()
    alert_settings.install(AlertSettings.from_env({"ALERT_WEBHOOK_URLS": receiver.url,
                                                   "ALERT_SIGNING_SECRET": "whsec-browser"}))
    yield receiver
    alert_settings.install(None)
    receiver.stop()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.browser
def test_operator_tour_of_part_two(browser_page: Any, served: str, client: Any, admin: Any, rt: Any,  # noqa: F811
                                   sandbox: Any, alert_receiver: Any) -> None:
    from core.alert_settings import alert_settings
    from core.alerts import deliver, detect

    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    failures: list[str] = []
    page.on("console", lambda message: message.type == "error" and failures.append(message.text))
    with RunningWorker(rt, threads=2):
        # Given two organisations whose contacts Xero refused (the same account number is taken)
        case = refused_contact(client, admin, sandbox)
        integration = case["integration"]
        second = seed_organisation(sandbox, integration["subdomain"], name="Second Festival")
        event2 = wait_event(client, admin, send_webhook(client, integration, second["id"], "create")
                            .get_json()["event_id"], timeout=40)
        assert event2["status"] == "failed"

        # The sign-in page answers 200 (no console error), and the favicon is served
        answer = page.goto(f"{served}/ops/sign-in")
        assert answer.status == 200
        page.fill("#token", ADMIN_TOKEN)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("#queues-title")
        assert page.request.get(f"{served}/favicon.ico").status == 200
        assert page.locator("svg.throughput").count() == 1
        _shot(page, "part2_overview")

        # The workers view shows the running worker, alive
        page.click("nav >> text=Workers")
        page.wait_for_selector("table.workers-table")
        assert "alive" in page.inner_text("table.workers-table tbody")
        _shot(page, "part2_workers")

        # The alerts page: where alerts go, and the digest of the two failures, delivered
        detect.run_pass(rt, alert_settings())
        deliver.deliver_due(rt.db, alert_settings())
        page.click("nav >> text=Alerts")
        page.wait_for_selector("table.alerts-table")
        settings_text = page.inner_text(".alert-settings")
        assert "127.0.0.1" in settings_text and "signed" in settings_text and "secret-path" not in settings_text
        row = page.inner_text("table.alerts-table tbody")
        assert "events failed" in row and "2 events failed" in row and "sent" in row
        _shot(page, "part2_alerts")

        # A failed event resolved with a note
        page.goto(f"{served}/ops/events/{case['event']['id']}")
        page.fill("input[name=note]", "Gave the old contact a new account number")
        page.click("button:has-text('Resolve')")
        page.wait_for_selector("#resolution")
        assert "Gave the old contact a new account number" in page.inner_text("#resolution")
        _shot(page, "part2_event_resolved")

        # The health page groups what still fails by reason; its group is replayed
        page.goto(f"{served}/ops/integrations/{integration['id']}/health")
        group = page.locator("tr.group-row")
        assert group.count() == 1 and "1" in page.inner_text("#count-failing")
        page.locator("tr.group-row summary").click()
        # the unlinked organisation by its name (issue 16), linked to its page in Current RMS
        assert "Second Festival ↗" in group.inner_text() and f"organisation {second['id']}" not in group.inner_text()
        # and the refusal names the contact holding the number
        assert "is already used by contact '…' (<link>)" in group.inner_text()
        assert "change the organisation's account number" in group.inner_text()
        _shot(page, "part2_health")
        group.locator("button:has-text('Replay')").click()
        page.wait_for_selector(".flash-ok")
        assert "1 event of" in page.inner_text(".flash-ok")
        _shot(page, "part2_health_replayed")
        assert wait_event(client, admin, event2["id"], "failed", timeout=30)["attempts"] == 2

    # "Retry now" on the overview runs a retrying event at once
    waiting = make_event(rt, integration["id"], status="retrying", organisation_id=second["id"])
    with rt.db.session() as session:
        session.get(Event, waiting).next_attempt_at = utcnow() + timedelta(hours=1)
    page.goto(f"{served}/ops")
    page.click("button:has-text('Retry now')")
    page.wait_for_selector(".flash-ok")
    assert "1 retrying event running now" in page.inner_text(".flash-ok")
    _shot(page, "part2_retry_now")
    with rt.db.reading() as session:
        assert session.get(Event, waiting).next_attempt_at <= utcnow()
    assert CLASH_NUMBER  # the clash the two refusals share
    assert failures == [] and page.script_errors == []
