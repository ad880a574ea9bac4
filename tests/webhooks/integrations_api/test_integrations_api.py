"""``/api/integrations`` (interface §3): create, list, show, PATCH merging, disable, delete,
webhook registration in the sandbox rental system, token rotation, authentication, invalid
bodies, and secrets: never answered, never stored in clear.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
import sqlalchemy

from core.models import Contact
from core.store import integrations, links
from core.store.links import LinkWrite
from tests.support import integration_body

WEBHOOK_EVENTS = {"member_create", "member_update"}


class RecordingClient:
    """The Flask test client, keeping every answer body so that a test can grep them all."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.answers: list[str] = []

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            response = getattr(self.client, method)(*args, **kwargs)
            self.answers.append(response.get_data(as_text=True) + json.dumps(dict(response.headers)))
            return response
        return call

    def containing(self, secret: str) -> list[int]:
        return [n for n, answer in enumerate(self.answers) if secret in answer]


@pytest.fixture
def api(client: Any) -> RecordingClient:
    return RecordingClient(client)


def new_body(sandbox: Any, kind: str = "xero", **changes: Any) -> dict[str, Any]:
    """A create body whose secrets are all distinctive (so a leak can be found by grep)."""
    body = integration_body(
        sandbox, kind, api_key=f"apikey-{uuid.uuid4().hex}", client_id=f"clientid-{uuid.uuid4().hex}",
        client_secret=f"clientsecret-{uuid.uuid4().hex}", policies={"create_contact_on_create": False},
    )
    body.update(changes)
    return body


def secrets_in(body: dict[str, Any]) -> list[str]:
    provider = body["provider"]
    found = [body["source"]["api_key"], provider["client_secret"], provider["access_token"],
             provider["refresh_token"], provider["client_id"]]
    if body["source"].get("signing_secret"):
        found.append(body["source"]["signing_secret"])
    return found


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


def rental_webhooks(sandbox: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = requests.get(
        f"{sandbox.current_rms}/api/v1/webhooks", timeout=5,
        headers={"X-SUBDOMAIN": body["source"]["subdomain"], "X-AUTH-TOKEN": body["source"]["api_key"]},
    )
    response.raise_for_status()
    return response.json()["webhooks"]


def created(api: RecordingClient, admin: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/integrations", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def send(client: Any, url: str, action_id: int) -> Any:
    body = {"action": {"id": action_id, "subject_id": 1, "subject_type": "Member", "action_type": "update"}}
    return client.post(url[url.index("/webhooks/"):], json=body)


# --- create ------------------------------------------------------------------------------


def test_create_answers_201_with_a_webhook_url_and_registers_both_webhooks(
    api: RecordingClient, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given a valid body
    body = new_body(sandbox)
    # When it is posted
    answer = created(api, admin, body)
    # Then 201 with the documented shape
    assert answer["status"] == "active"
    assert answer["webhooks_registered"] is True
    assert answer["name"] == body["name"]
    assert answer["provider"]["kind"] == "xero"
    assert answer["policies"]["create_contact_on_create"] is False
    assert answer["policies"]["update_contact_on_edit"] is True  # defaults filled in
    assert answer["policies"]["linked_contact_field"] == "linked_contact"
    assert re.fullmatch(
        rf"http://127\.0\.0\.1:9/webhooks/current-rms/{answer['id']}\?token=[A-Za-z0-9_-]{{40,}}",
        answer["webhook_url"],
    ), answer["webhook_url"]
    # And the rental system holds member_create and member_update pointing at that URL
    hooks = rental_webhooks(sandbox, body)
    assert {h["event"] for h in hooks} == WEBHOOK_EVENTS
    assert all(h["target_url"] == answer["webhook_url"] and h["active"] for h in hooks)
    posts = [c for c in sandbox.calls("current_rms") if c["method"] == "POST" and c["path"].endswith("/webhooks")]
    assert len(posts) == 2
    for call in posts:
        sent = call["json"]["webhook"]
        assert set(sent) == {"name", "event", "target_url", "active"} and sent["active"] is True
        assert call["headers"]["X-Subdomain"] == body["source"]["subdomain"]
    # And the webhook URL works
    assert send(api, answer["webhook_url"], 1).status_code == 202


def test_create_when_the_rental_system_refuses_registration_then_register_webhooks_retries(
    api: RecordingClient, admin: Any, sandbox: Any,
) -> None:
    # Given a rental system that refuses webhook registrations once
    fault = {"method": "POST", "path": "/webhooks$", "status": 422, "times": 1,
             "body": {"errors": ["Target url is not reachable"]}}
    requests.post(f"{sandbox.current_rms}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    body = new_body(sandbox)
    # When the integration is created
    answer = created(api, admin, body)
    # Then it is created, with the failure reported and a reason
    assert answer["webhooks_registered"] is False
    assert answer["webhook_error"]
    assert api.get(f"/api/integrations/{answer['id']}", headers=admin).get_json()["webhooks_registered"] is False

    # When registration is tried again
    again = api.post(f"/api/integrations/{answer['id']}/register-webhooks", headers=admin)
    # Then both webhooks exist, once each, pointing at the new URL it answers
    assert again.status_code == 200, again.get_json()
    retried = again.get_json()
    assert retried["webhooks_registered"] is True and retried["webhook_error"] is None
    hooks = rental_webhooks(sandbox, body)
    assert sorted(h["event"] for h in hooks) == sorted(WEBHOOK_EVENTS)
    assert {h["target_url"] for h in hooks} == {retried["webhook_url"]}
    assert send(api, retried["webhook_url"], 2).status_code == 202


def test_create_with_a_refused_api_key_is_created_unregistered(api: RecordingClient, admin: Any, sandbox: Any) -> None:
    body = new_body(sandbox)
    body["source"]["api_key"] = "not-the-key"
    answer = created(api, admin, body)
    assert answer["webhooks_registered"] is False
    assert answer["webhook_error"]
    assert rental_webhooks(sandbox, new_body_for(sandbox, body)) == []


def new_body_for(sandbox: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The same account, with a key that the sandbox accepts again (to look inside it)."""
    key = f"apikey-{uuid.uuid4().hex}"
    sandbox.control("current_rms", "accounts", subdomain=body["source"]["subdomain"], api_key=key)
    return {**body, "source": {**body["source"], "api_key": key}}


# --- list and show -----------------------------------------------------------------------


def test_list_and_show(api: RecordingClient, admin: Any, sandbox: Any) -> None:
    first = created(api, admin, new_body(sandbox, name="First"))
    second = created(api, admin, new_body(sandbox, "sage", name="Second"))
    listed = api.get("/api/integrations", headers=admin)
    assert listed.status_code == 200
    assert [i["id"] for i in listed.get_json()["integrations"]] == [first["id"], second["id"]]
    shown = api.get(f"/api/integrations/{second['id']}", headers=admin)
    assert shown.status_code == 200
    view = shown.get_json()
    assert (view["id"], view["name"], view["provider"]["kind"], view["status"]) == (second["id"], "Second", "sage", "active")
    assert "webhook_url" not in view
    assert api.get(f"/api/integrations/{'0' * 32}", headers=admin).status_code == 404
    assert api.get(f"/api/integrations/{'0' * 300}", headers=admin).status_code == 404


# --- PATCH merges --------------------------------------------------------------------------


def test_patch_merges_keys_and_policies(api: RecordingClient, admin: Any, sandbox: Any) -> None:
    # Given an integration with two policies set
    body = new_body(sandbox, policies={"create_contact_on_create": False, "write_link_to_field": "xero_url"})
    integration = created(api, admin, body)
    path = f"/api/integrations/{integration['id']}"
    # When only the name is sent
    renamed = api.patch(path, json={"name": "Renamed"}, headers=admin).get_json()
    # Then everything else is as it was
    assert renamed["name"] == "Renamed"
    assert renamed["policies"] == integration["policies"]
    assert renamed["provider"] == integration["provider"]
    assert renamed["source"] == integration["source"]
    # When one policy is sent
    patched = api.patch(path, json={"policies": {"update_contact_on_edit": False}}, headers=admin)
    # Then it is merged into the others
    assert patched.status_code == 200
    policies = patched.get_json()["policies"]
    assert policies["update_contact_on_edit"] is False
    assert policies["create_contact_on_create"] is False
    assert policies["write_link_to_field"] == "xero_url"
    assert api.get(path, headers=admin).get_json()["policies"] == policies
    # When a policy is cleared with null
    cleared = api.patch(path, json={"policies": {"write_link_to_field": None}}, headers=admin).get_json()
    assert cleared["policies"]["write_link_to_field"] is None
    assert cleared["policies"]["update_contact_on_edit"] is False


def test_patch_replaces_secrets_sent_and_keeps_the_others(api: RecordingClient, admin: Any, sandbox: Any, rt: Any) -> None:
    # Given an integration, and the rental system giving its account a new API key
    body = new_body(sandbox)
    integration = created(api, admin, body)
    path = f"/api/integrations/{integration['id']}"
    new_key = f"apikey-{uuid.uuid4().hex}"
    sandbox.control("current_rms", "accounts", subdomain=body["source"]["subdomain"], api_key=new_key)
    # Then the old key no longer registers webhooks
    refused = api.post(f"{path}/register-webhooks", headers=admin).get_json()
    assert refused["webhooks_registered"] is False
    # When the new key and a new access token are sent
    answer = api.patch(path, json={"source": {"api_key": new_key}, "provider": {"access_token": "access-new-123"}},
                       headers=admin)
    assert answer.status_code == 200, answer.get_json()
    # Then they replace the old ones, the secrets not sent are kept, and the new key works
    stored = integrations.secrets_of(rt.vault, integrations.get(rt.db, integration["id"]))
    assert stored["source_api_key"] == new_key
    assert stored["access_token"] == "access-new-123"
    assert stored["refresh_token"] == body["provider"]["refresh_token"]
    assert stored["client_secret"] == body["provider"]["client_secret"]
    assert answer.get_json()["source"]["subdomain"] == body["source"]["subdomain"]
    assert api.post(f"{path}/register-webhooks", headers=admin).get_json()["webhooks_registered"] is True
    for secret in (new_key, "access-new-123"):
        assert api.containing(secret) == [], secret


def test_patch_of_an_unknown_integration_is_404(api: RecordingClient, admin: Any) -> None:
    assert api.patch(f"/api/integrations/{'0' * 32}", json={"name": "x"}, headers=admin).status_code == 404


# --- disable, delete ---------------------------------------------------------------------


def test_disable_makes_its_webhooks_404_and_enable_restores_them(api: RecordingClient, admin: Any, sandbox: Any) -> None:
    integration = created(api, admin, new_body(sandbox))
    path = f"/api/integrations/{integration['id']}"
    disabled = api.patch(path, json={"status": "disabled"}, headers=admin)
    assert disabled.get_json()["status"] == "disabled"
    assert send(api, integration["webhook_url"], 10).status_code == 404
    assert api.patch(path, json={"status": "active"}, headers=admin).get_json()["status"] == "active"
    assert send(api, integration["webhook_url"], 11).status_code == 202


def test_delete_removes_webhooks_and_credentials_but_keeps_events_and_links(
    api: RecordingClient, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given an integration with an event and a link
    body = new_body(sandbox)
    integration = created(api, admin, body)
    event_id = send(api, integration["webhook_url"], 20).get_json()["event_id"]
    links.save(rt.db, LinkWrite(integration["id"], 1, "Org One", Contact("c-1", "Org One"), None))
    path = f"/api/integrations/{integration['id']}"
    # When it is deleted
    deleted = api.delete(path, headers=admin)
    # Then 204; it is gone from the API, its webhooks answer 404 and are removed upstream
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert api.get(path, headers=admin).status_code == 404
    assert api.delete(path, headers=admin).status_code == 404
    assert integration["id"] not in [i["id"] for i in api.get("/api/integrations", headers=admin).get_json()["integrations"]]
    assert send(api, integration["webhook_url"], 21).status_code == 404
    assert rental_webhooks(sandbox, body) == []
    # And its credentials are removed, while its events and links stay for the record
    stored = integrations.get(rt.db, integration["id"], include_deleted=True)
    assert stored is not None and stored.sealed_secrets is None
    assert api.get(f"/api/events/{event_id}", headers=admin).get_json()["integration_id"] == integration["id"]
    assert [link.contact_id for link in links.all_of(rt.db, integration["id"])] == ["c-1"]


# --- rotate the webhook token ----------------------------------------------------------------


def test_rotate_webhook_token_keeps_the_old_one_for_24_hours_and_repoints_the_webhooks(
    api: RecordingClient, admin: Any, sandbox: Any,
) -> None:
    # Given an integration with its webhooks registered
    body = new_body(sandbox)
    integration = created(api, admin, body)
    ids_before = sorted(h["id"] for h in rental_webhooks(sandbox, body))
    # When its token is rotated
    before = datetime.now(timezone.utc)
    response = api.post(f"/api/integrations/{integration['id']}/rotate-webhook-token", headers=admin)
    # Then the answer gives the new URL and when the old one expires (24 hours on)
    assert response.status_code == 200
    answer = response.get_json()
    assert set(answer) == {"webhook_url", "previous_valid_until"}
    assert token_of(answer["webhook_url"]) != token_of(integration["webhook_url"])
    valid_until = datetime.fromisoformat(answer["previous_valid_until"].replace("Z", "+00:00"))
    assert timedelta(hours=23, minutes=59) < valid_until - before <= timedelta(hours=24, minutes=1)
    # And both URLs are accepted meanwhile
    assert send(api, integration["webhook_url"], 30).status_code == 202
    assert send(api, answer["webhook_url"], 31).status_code == 202
    # And the registered webhooks (the same ones) now point at the new URL
    hooks = rental_webhooks(sandbox, body)
    assert sorted(h["id"] for h in hooks) == ids_before
    assert {h["target_url"] for h in hooks} == {answer["webhook_url"]}
    assert api.post(f"/api/integrations/{'0' * 32}/rotate-webhook-token", headers=admin).status_code == 404


# --- authentication ------------------------------------------------------------------------


def api_routes(app: Any) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "1" if "organisation" in m.group(1) else "0" * 32, rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_every_api_route_answers_401_without_the_admin_token(app: Any, api: RecordingClient, admin: Any, sandbox: Any) -> None:
    integration = created(api, admin, new_body(sandbox))
    routes = api_routes(app)
    assert len(routes) >= 12, routes
    wrong = [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": admin["Authorization"][7:]},
             {"Authorization": "Basic " + admin["Authorization"][7:]}, {"Authorization": admin["Authorization"] + "x"}]
    for method, path in routes + [("GET", f"/api/integrations/{integration['id']}"),
                                  ("DELETE", f"/api/integrations/{integration['id']}")]:
        for headers in wrong:
            response = api.open(path, method=method, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.status_code)
            assert response.get_json()["error"]
    # Nothing was changed by them
    assert api.get(f"/api/integrations/{integration['id']}", headers=admin).get_json()["status"] == "active"


# --- invalid bodies ------------------------------------------------------------------------


def invalid_bodies(body: dict[str, Any]) -> list[tuple[dict[str, Any] | bytes, str]]:
    """(body, the field its 400 must name)."""
    def with_(path: str, value: Any) -> dict[str, Any]:
        changed = json.loads(json.dumps(body))
        *parents, last = path.split(".")
        target = changed
        for key in parents:
            target = target[key]
        if value is REMOVE:
            target.pop(last)
        else:
            target[last] = value
        return changed

    return [
        (with_("colour", "blue"), "colour"),
        (with_("source.extra", 1), "source"),
        (with_("provider.extra", 1), "provider"),
        (with_("policies.create_contact_on_delete", True), "policies"),
        (with_("provider.kind", "myob"), "provider"),
        (with_("provider.kind", REMOVE), "provider"),
        (with_("provider.realm_id", "123"), "provider"),  # a QuickBooks key on Xero
        (with_("name", 5), "name"),
        (with_("name", ""), "name"),
        (with_("name", REMOVE), "name"),
        (with_("source", "acme"), "source"),
        (with_("source", REMOVE), "source"),
        (with_("provider", REMOVE), "provider"),
        (with_("source.api_key", REMOVE), "source"),
        (with_("source.subdomain", REMOVE), "source"),
        (with_("source.subdomain", "acme.example/../x"), "source"),
        (with_("source.api_key", 123), "source"),
        (with_("source.api_url", "file:///etc/passwd"), "source"),
        (with_("provider.expires_at", "tomorrow"), "provider"),
        (with_("provider.access_token", ["a"]), "provider"),
        (with_("policies", []), "policies"),
        (with_("policies.create_contact_on_create", "yes"), "policies"),
        (with_("policies.update_contact_on_edit", 1), "policies"),
        (with_("policies.linked_contact_field", 5), "policies"),
        (with_("policies.write_link_to_field", ""), "policies"),
    ]


REMOVE = object()


def test_create_with_an_invalid_body_is_400_naming_the_field(api: RecordingClient, admin: Any, sandbox: Any) -> None:
    body = new_body(sandbox)
    for invalid, field in invalid_bodies(body):
        response = api.post("/api/integrations", json=invalid, headers=admin)
        assert response.status_code == 400, (invalid, response.get_json())
        answer = response.get_json()
        assert answer["error"] and field in answer["fields"], (field, answer)
    for raw in (b"not json", b"[]", b'"x"', b"{"):
        response = api.post("/api/integrations", data=raw, headers={**admin, "Content-Type": "application/json"})
        assert response.status_code == 400, raw
        assert set(response.get_json()) >= {"error"}
    assert api.get("/api/integrations", headers=admin).get_json()["integrations"] == []


def test_patch_with_an_invalid_body_is_400_and_changes_nothing(api: RecordingClient, admin: Any, sandbox: Any) -> None:
    integration = created(api, admin, new_body(sandbox))
    path = f"/api/integrations/{integration['id']}"
    cases = [
        ({"colour": "blue"}, "colour"), ({"status": "deleted"}, "status"), ({"status": "reconnect_needed"}, "status"),
        ({"name": 5}, "name"), ({"policies": {"link_existing_by_name": "no"}}, "policies"),
        ({"policies": {"unknown": True}}, "policies"),
        ({"source": {"subdomain": "bad domain"}}, "source"), ({"source": "x"}, "source"),
        ({"name": "Renamed", "policies": {"update_contact_on_edit": "off"}}, "policies"),
        ({"provider": {"kind": "xero", "access_token": "not ascii \u00e9"}}, "provider"),
    ]
    for invalid, field in cases:
        response = api.patch(path, json=invalid, headers=admin)
        assert response.status_code == 400, (invalid, response.get_json())
        assert field in response.get_json()["fields"], (invalid, response.get_json())
    # Another accounting system than the integration's conflicts with what it is: 409.
    response = api.patch(path, json={"provider": {"kind": "sage"}}, headers=admin)
    assert response.status_code == 409 and "provider" in response.get_json()["fields"]
    # An empty body says nothing to change: 400, not a silent 200.
    assert api.patch(path, headers=admin).status_code == 400
    assert api.get(path, headers=admin).get_json() == {
        **{k: v for k, v in integration.items() if k != "webhook_url"},
    }


# --- secrets ---------------------------------------------------------------------------------


def test_no_answer_contains_a_secret_and_none_is_stored_in_clear(
    api: RecordingClient, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given integrations created (one with a signing secret) and put through every operation
    body = new_body(sandbox)
    body["source"]["signing_secret"] = f"signing-{uuid.uuid4().hex}"
    integration = created(api, admin, body)
    path = f"/api/integrations/{integration['id']}"
    first_token = token_of(integration["webhook_url"])
    api.get(path, headers=admin)
    api.get("/api/integrations", headers=admin)
    api.patch(path, json={"name": "Renamed", "policies": {"update_contact_on_edit": False}}, headers=admin)
    api.patch(path, json={"colour": "blue"}, headers=admin)
    rotated = api.post(f"{path}/rotate-webhook-token", headers=admin).get_json()
    registered = api.post(f"{path}/register-webhooks", headers=admin).get_json()
    send(api, integration["webhook_url"], 40)
    api.get("/api/events", headers=admin)
    api.get(f"{path}/links", headers=admin)
    api.post("/api/integrations", json={**body, "colour": 1}, headers=admin)

    # Then no answer holds a credential, and each webhook token appears only in its own answer
    for secret in secrets_in(body):
        assert api.containing(secret) == [], secret
    for url in (integration["webhook_url"], rotated["webhook_url"], registered["webhook_url"]):
        assert len(api.containing(token_of(url))) == 1, url
    assert first_token in api.answers[0]

    # And the stored row holds none of them in clear, nor the webhook tokens
    with rt.db.engine.connect() as connection:
        row = connection.execute(sqlalchemy.text("SELECT * FROM integrations WHERE id = :id"),
                                 {"id": integration["id"]}).mappings().one()
    stored = json.dumps({k: str(v) for k, v in row.items()})
    for secret in secrets_in(body) + [first_token, token_of(rotated["webhook_url"])]:
        assert secret not in stored, secret
    # And the sealed secrets do open to them with the key (so the test looked at the right place)
    opened = integrations.secrets_of(rt.vault, integrations.get(rt.db, integration["id"]))
    assert opened["source_api_key"] == body["source"]["api_key"]
    assert opened["signing_secret"] == body["source"]["signing_secret"]
