"""The stand-in's webhook registry: GET/POST /webhooks, GET/PUT/DELETE /webhooks/{id}."""
from __future__ import annotations


def _webhook(**more):
    return {"webhook": {"name": "Sync", "event": "member_update",
                        "target_url": "https://svc.example/hook?token=t", **more}}


def test_webhook_crud_round_trip(rms):
    # When a webhook is registered without "active"
    created = rms("POST", "/webhooks", json=_webhook())
    webhook = created.json()["webhook"]
    # Then it is 201 with an id, active by default, and listed
    assert created.status_code == 201
    assert webhook == {"id": webhook["id"], "name": "Sync", "event": "member_update",
                       "target_url": "https://svc.example/hook?token=t", "active": True}
    assert rms("GET", "/webhooks").json() == {"webhooks": [webhook]}
    # When its target is changed, Then only that field changes
    updated = rms("PUT", f"/webhooks/{webhook['id']}",
                  json={"webhook": {"target_url": "https://svc.example/hook?token=u"}})
    assert updated.json()["webhook"] == {**webhook, "target_url": "https://svc.example/hook?token=u"}
    assert rms("GET", f"/webhooks/{webhook['id']}").json() == updated.json()
    # When it is deleted, Then it is gone
    assert rms("DELETE", f"/webhooks/{webhook['id']}").status_code == 204
    assert rms("GET", f"/webhooks/{webhook['id']}").status_code == 404
    assert rms("PUT", f"/webhooks/{webhook['id']}", json=_webhook()).status_code == 404
    assert rms("DELETE", f"/webhooks/{webhook['id']}").status_code == 404
    assert rms("GET", "/webhooks").json() == {"webhooks": []}


def test_webhook_validation(rms):
    blank = rms("POST", "/webhooks", json={"webhook": {"name": "", "event": "member_update"}})
    bad_url = rms("POST", "/webhooks", json=_webhook(target_url="ftp://x"))
    assert blank.status_code == 422
    assert blank.json() == {"errors": ["Name can't be blank", "Target url can't be blank"]}
    assert bad_url.json() == {"errors": ["Target url is invalid"]}
    assert rms("GET", "/webhooks").json() == {"webhooks": []}


def test_the_help_centres_capitalised_wrapper_is_accepted(rms):
    body = {"Webhook": _webhook(active=False)["webhook"]}
    created = rms("POST", "/webhooks", json=body)
    assert created.status_code == 201 and created.json()["webhook"]["active"] is False


def test_webhooks_of_another_account_are_invisible(rms, api_as):
    rms.control("POST", "accounts", json={"subdomain": "other", "api_key": "other-key"})
    webhook_id = rms("POST", "/webhooks", json=_webhook()).json()["webhook"]["id"]
    other = api_as("other", "other-key")
    assert other("GET", f"/webhooks/{webhook_id}").status_code == 404
    assert other("DELETE", f"/webhooks/{webhook_id}").status_code == 404
    assert other("GET", "/webhooks").json() == {"webhooks": []}
    assert rms("GET", f"/webhooks/{webhook_id}").status_code == 200
