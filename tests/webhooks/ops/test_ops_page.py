"""``/ops`` (interface §8): sign-in, CSRF, what the overview shows, replaying, linking by hand."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path
from typing import Any

import pytest

from core.store import events, integrations, links
from tests.conftest import ADMIN_TOKEN
from tests.support import RunningWorker, create_integration, wait_event
from tests.webhooks.ops_support import fix_account_number, make_event, refused_contact

TEMPLATES = Path(__file__).resolve().parents[3] / "webhooks" / "ops" / "templates"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def sign_in(client: Any) -> str:
    """Sign in through the form; the CSRF token of the signed-in session."""
    form = client.get("/ops")
    answer = client.post("/ops/sign-in", data={"token": ADMIN_TOKEN, "csrf_token": csrf_of(form.text), "next": "/ops"})
    assert answer.status_code == 302, answer.text
    return csrf_of(client.get("/ops").text)


@pytest.fixture
def integration(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(client, admin, sandbox, "xero")


def test_without_credentials_401_with_the_sign_in_form(client: Any, rt: Any) -> None:
    for path in ("/ops", "/ops/events/abc", "/ops/replay"):
        response = client.get(path)
        assert response.status_code == 401
        assert 'name="token"' in response.text and 'action="/ops/sign-in"' in response.text
    assert client.get("/ops", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_bearer_header_opens_it(client: Any, admin: Any, rt: Any) -> None:
    response = client.get("/ops", headers=admin)
    assert response.status_code == 200
    assert "Queues" in response.text and "Events" in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_sign_in_sets_a_session_and_sign_out_ends_it(client: Any, rt: Any) -> None:
    # When the admin token is typed into the form
    csrf = sign_in(client)

    # Then the page opens with the cookie alone, until signing out
    assert client.get("/ops").status_code == 200
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert client.post("/ops/sign-out", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/ops").status_code == 401


def test_sign_in_refuses_a_wrong_token_a_missing_csrf_and_foreign_redirects(client: Any, rt: Any) -> None:
    csrf = csrf_of(client.get("/ops").text)
    wrong = client.post("/ops/sign-in", data={"token": "not-it", "csrf_token": csrf})
    assert wrong.status_code == 401 and "not the admin token" in wrong.text
    no_csrf = client.post("/ops/sign-in", data={"token": ADMIN_TOKEN})
    assert no_csrf.status_code == 400
    assert client.get("/ops").status_code == 401
    for target in ("https://evil.example/ops", "//evil.example/ops", "/ops\\@evil.example"):
        answer = client.post("/ops/sign-in", data={"token": ADMIN_TOKEN, "csrf_token": csrf, "next": target})
        assert answer.headers["Location"] == "/ops", target
        csrf = csrf_of(client.get("/ops").text)


def test_every_form_is_csrf_protected(client: Any, rt: Any, integration: Any) -> None:
    # Given a signed-in operator and a failed event
    csrf = sign_in(client)
    event_id = make_event(rt, integration["id"], status="failed")
    posts = [f"/ops/events/{event_id}/replay", "/ops/replay", f"/ops/integrations/{integration['id']}/links",
             f"/ops/integrations/{integration['id']}/register-webhooks", "/ops/sign-out",
             f"/ops/integrations/{integration['id']}/links/5/delete"]

    # When a form is posted without its token, or with another one
    for path in posts:
        for data in ({}, {"csrf_token": "forged"}):
            assert client.post(path, data=data).status_code == 400, path

    # Then nothing happened; every form of every page carries the token
    assert events.get(rt.db, event_id).status == "failed"
    assert client.get("/ops").status_code == 200
    for page in ("/ops", f"/ops/events/{event_id}", f"/ops/integrations/{integration['id']}", "/ops/replay"):
        html = client.get(page).text
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S)
        assert forms, page
        assert all(f'value="{csrf}"' in form for form in forms), page


def test_templates_have_no_inline_script_or_event_handlers() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template


def test_overview_puts_integrations_needing_attention_first(client: Any, admin: Any, rt: Any, sandbox: Any, integration: Any) -> None:
    # Given one integration to reconnect and one whose webhooks are not registered
    broken = create_integration(client, admin, sandbox, "sage")
    integrations.update(rt.db, integration["id"], status="reconnect_needed", status_reason="reconnect the accounting system")
    integrations.update(rt.db, broken["id"], webhooks_registered=False, webhook_error="rental system answered 401")

    html = client.get("/ops", headers=admin).text

    # Then both are named with their problem, above the queues
    top = html[:html.index('id="queues-title"')]
    assert "Reconnect needed: reconnect the accounting system" in top
    assert "Webhooks not registered: rental system answered 401" in top
    assert f'href="/connect/{integration["id"]}"' in top


def test_overview_counts_events_per_integration_for_the_hour_and_the_day(client: Any, admin: Any, rt: Any, integration: Any) -> None:
    now = datetime.now(timezone.utc)
    make_event(rt, integration["id"], status="failed", received_at=now - timedelta(minutes=10))
    make_event(rt, integration["id"], status="failed", received_at=now - timedelta(hours=5))
    make_event(rt, integration["id"], status="failed", received_at=now - timedelta(days=3))
    make_event(rt, integration["id"], status="succeeded", received_at=now - timedelta(minutes=1))

    html = client.get("/ops", headers=admin).text
    counts = html[html.index('id="recent-title"'):html.index('id="events"')]
    failed_link = re.search(rf'href="/ops\?integration={integration["id"]}&amp;status=failed#events">([^<]+)<', counts)
    ok_link = re.search(rf'href="/ops\?integration={integration["id"]}&amp;status=succeeded#events">([^<]+)<', counts)
    assert failed_link.group(1) == "1 / 2"
    assert ok_link.group(1) == "1 / 1"


def test_event_list_filters_and_shows_why(client: Any, admin: Any, rt: Any, integration: Any) -> None:
    failed = make_event(rt, integration["id"], status="failed", reason="the account number is already used by another contact")
    done = make_event(rt, integration["id"], status="succeeded", organisation_id=999)
    html = client.get(f"/ops?status=failed&integration={integration['id']}", headers=admin).text
    assert f'data-event-id="{failed}"' in html and f'data-event-id="{done}"' not in html
    assert "the account number is already used by another contact" in html
    bad = client.get("/ops?since=yesterday", headers=admin)
    assert bad.status_code == 200 and "must be an ISO 8601 time" in bad.text


def test_event_list_pages_older(client: Any, admin: Any, rt: Any, integration: Any) -> None:
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    made = [make_event(rt, integration["id"], status="failed", received_at=start + timedelta(seconds=s)) for s in range(55)]
    first = client.get("/ops?status=failed", headers=admin).text
    older = re.search(r'href="([^"]*cursor=[^"#]+)#events"', first).group(1).replace("&amp;", "&")
    second = client.get(older, headers=admin).text
    assert "status=failed" in older
    assert sum(f'data-event-id="{e}"' in second for e in made) == 5
    assert all(f'data-event-id="{e}"' in second for e in made[:5])


def test_event_page_shows_reason_error_attempts_and_payload(client: Any, admin: Any, rt: Any, integration: Any) -> None:
    event_id = make_event(rt, integration["id"], status="failed", organisation_id=4242, attempts=2,
                          reason="the account number is already used by another contact",
                          error="xero: HTTP 400: <The Account Number already exists>")
    html = client.get(f"/ops/events/{event_id}", headers=admin).text
    assert 'id="reason">the account number is already used by another contact<' in html
    assert "xero: HTTP 400: &lt;The Account Number already exists&gt;" in html  # escaped, never raw HTML
    assert "&#34;subject_id&#34;: 4242" in html or '"subject_id": 4242' in html
    assert html.count('class="badge badge-failed"') >= 2
    assert f"https://{integration['subdomain']}.current-rms.com/members/4242" in html
    assert client.get("/ops/events/nope", headers=admin).status_code == 404


def test_replay_all_failed_confirms_the_count_first(client: Any, admin: Any, rt: Any, sandbox: Any, integration: Any) -> None:
    # Given two failed events of one integration and one of another
    other = create_integration(client, admin, sandbox, "sage")
    mine = [make_event(rt, integration["id"], status="failed") for _ in range(2)]
    theirs = make_event(rt, other["id"], status="failed")
    csrf = sign_in(client)

    # When "replay all failed" is pressed for that integration, a confirmation shows the count
    confirm = client.get(f"/ops/replay?integration={integration['id']}")
    assert "Replay 2 failed events?" in confirm.text
    assert {events.get(rt.db, e).status for e in mine} == {"failed"}

    # And confirming replays exactly those
    done = client.post("/ops/replay", data={"csrf_token": csrf, "integration": integration["id"]}, follow_redirects=True)
    assert "2 failed events queued again." in done.text
    assert {events.get(rt.db, e).status for e in mine} == {"queued"}
    assert events.get(rt.db, theirs).status == "failed"


def test_replay_one_from_the_page_not_twice(client: Any, rt: Any, integration: Any) -> None:
    csrf = sign_in(client)
    event_id = make_event(rt, integration["id"], status="failed")
    first = client.post(f"/ops/events/{event_id}/replay", data={"csrf_token": csrf}, follow_redirects=True)
    second = client.post(f"/ops/events/{event_id}/replay", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Replay queued" in first.text
    assert "Not replayed: the event is already queued." in second.text
    assert rt.redis.llen("dramatiq:sync") == 1
    assert '<meta http-equiv="refresh"' in second.text  # it refreshes until it settles


def test_incident_fixed_and_replayed_from_the_page(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    with RunningWorker(rt):
        # Given a refused contact, found on the page by its status
        case = refused_contact(client, admin, sandbox)
        event_id = case["event"]["id"]
        csrf = sign_in(client)
        assert f'data-event-id="{event_id}"' in client.get("/ops?status=failed").text

        # When fixed at the source and replayed from the page
        fix_account_number(sandbox, case)
        client.post(f"/ops/events/{event_id}/replay", data={"csrf_token": csrf})
        wait_event(client, admin, event_id)

    # Then its page says it succeeded and links the new contact
    html = client.get(f"/ops/events/{event_id}").text
    assert "badge-succeeded" in html and "contact created" in html
    assert "The Festival Of Testing" in html
    assert "refresh" not in html.split("</head>")[0]


def test_links_with_web_addresses_and_linking_by_hand_with_suggestions(client: Any, rt: Any, sandbox: Any, integration: Any) -> None:
    # Given a contact in Xero and a signed-in operator
    contact = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                              contact={"Name": "Harbour Lights Ltd", "EmailAddress": "ap@harbour.example"})
    csrf = sign_in(client)

    # When they search for it, the page's auto-suggest answers from Xero
    found = client.get(f"/ops/integrations/{integration['id']}/contacts?q=harb").get_json()["contacts"]
    assert [(c["id"], c["name"]) for c in found] == [(contact["ContactID"], "Harbour Lights Ltd")]
    assert client.get(f"/ops/integrations/{integration['id']}/contacts?q=ha").status_code == 400

    # And they link organisation 77 to it
    answer = client.post(f"/ops/integrations/{integration['id']}/links", follow_redirects=True,
                         data={"csrf_token": csrf, "organisation_id": "77", "contact_id": contact["ContactID"]})

    # Then the link is stored, listed with its web address, and a sync of the organisation is owed
    assert "linked to contact" in answer.text
    link = links.get(rt.db, integration["id"], 77)
    assert link is not None and link.contact_id == contact["ContactID"]
    page = client.get(f"/ops/integrations/{integration['id']}").text
    assert f'href="{escape(link.url)}"' in page and link.url.startswith("https://go.xero.com/")
    owed = client.get(f"/ops?integration={integration['id']}&organisation_id=77").text
    assert owed.count("data-event-id=") == 1

    # A contact that does not exist, or one linked elsewhere, is refused with a reason
    missing = client.post(f"/ops/integrations/{integration['id']}/links", follow_redirects=True,
                          data={"csrf_token": csrf, "organisation_id": "78", "contact_id": "00000000-0000-0000-0000-000000000000"})
    assert "There is no contact" in missing.text
    taken = client.post(f"/ops/integrations/{integration['id']}/links", follow_redirects=True,
                        data={"csrf_token": csrf, "organisation_id": "79", "contact_id": contact["ContactID"]})
    assert "already linked to organisation 77" in taken.text
    assert links.get(rt.db, integration["id"], 79) is None

    # And unlinking removes it
    client.post(f"/ops/integrations/{integration['id']}/links/77/delete", data={"csrf_token": csrf})
    assert links.get(rt.db, integration["id"], 77) is None


def test_register_webhooks_again_from_the_page(client: Any, rt: Any, sandbox: Any, integration: Any) -> None:
    integrations.update(rt.db, integration["id"], webhooks_registered=False, webhook_error="timed out")
    csrf = sign_in(client)
    answer = client.post(f"/ops/integrations/{integration['id']}/register-webhooks", data={"csrf_token": csrf},
                         follow_redirects=True)
    assert "Webhooks registered." in answer.text
    assert integrations.get(rt.db, integration["id"]).webhooks_registered is True
    assert 'id="attention-title"' not in client.get("/ops").text
