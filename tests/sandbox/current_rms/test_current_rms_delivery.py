"""Webhook deliveries: the action JSON POSTed to a real receiving server, and their logs."""
from __future__ import annotations

import socket

import requests

from sandbox.current_rms import create_app
from sandbox.runner import ServerThread


def _register(rms, target_url: str, event: str, active: bool = True) -> int:
    body = {"webhook": {"name": event, "event": event, "target_url": target_url,
                        "active": active}}
    return rms("POST", "/webhooks", json=body).json()["webhook"]["id"]


def _closed_port_url() -> str:
    """An address where nothing listens: the delivery gets no answer at all."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def _wait(rms_app) -> None:
    assert rms_app.extensions["sandbox_deliverer"].wait_idle(5.0)


def test_api_create_and_update_are_delivered_as_actions(rms, rms_app, receiver):
    # Given member_create and member_update webhooks pointing at a receiver
    target, url = receiver
    _register(rms, url, "member_create")
    _register(rms, url, "member_update")
    # When an organisation is created then updated through the API
    member = rms("POST", "/members", json={"member": {
        "name": "Hooked Ltd", "membership_type": "Organisation"}}).json()["member"]
    rms("PUT", f"/members/{member['id']}", json={"member": {"name": "Hooked Ltd 2"}})
    _wait(rms_app)
    # Then the receiver got two actions, in order, with increasing ids, as JSON
    actions = [r["body"]["action"] for r in target.received]
    assert [a["action_type"] for a in actions] == ["create", "update"]
    assert all(a["subject_id"] == member["id"] and a["subject_type"] == "Member"
               for a in actions)
    assert actions[0]["id"] < actions[1]["id"]
    assert [a["name"] for a in actions] == ["Hooked Ltd", "Hooked Ltd 2"]
    assert actions[1]["member_id"] == 1 and actions[1]["created_at"]
    assert all(r["headers"]["Content-Type"] == "application/json" for r in target.received)
    # and each delivery is logged with the receiver's response code
    logs = rms("GET", "/webhook_logs").json()["webhook_logs"]
    assert [log["response_code"] for log in logs] == [200, 200]


def test_seeds_do_not_fire_but_web_ui_edits_do(rms, rms_app, receiver, seed):
    target, url = receiver
    webhook_id = _register(rms, url, "member_update")
    member = seed({"name": "Quiet Ltd", "membership_type": "Organisation"})
    # When a person edits the organisation in the web interface
    edited = rms.control("POST", f"members/{member['id']}/edit",
                         json={"subdomain": "acme", "changes": {"name": "Loud Ltd"}})
    _wait(rms_app)
    # Then only that edit is delivered, with the new state readable through the API
    assert edited.status_code == 200
    assert [r["body"]["action"]["action_type"] for r in target.received] == ["update"]
    assert target.received[0]["body"] == {"action": edited.json()["action"]}
    assert rms("GET", f"/members/{member['id']}").json()["member"]["name"] == "Loud Ltd"
    assert [log["webhook_id"] for log in rms("GET", "/webhook_logs").json()["webhook_logs"]] \
        == [webhook_id]


def test_only_active_webhooks_of_the_matching_event_are_called(rms, rms_app, receiver):
    target, url = receiver
    _register(rms, url, "member_update", active=False)
    _register(rms, url, "opportunity_update")
    rms("POST", "/members", json={"member": {"name": "N", "membership_type": "Organisation"}})
    _wait(rms_app)
    assert target.received == []
    assert rms("GET", "/webhook_logs").json()["webhook_logs"] == []


def test_refire_and_failed_deliveries_are_logged(rms, rms_app, receiver, seed):
    # Given a receiver that answers 503 and a second webhook nobody listens to
    target, url = receiver
    target.status = 503
    _register(rms, url, "member_create")
    _register(rms, _closed_port_url(), "member_create")
    member = seed({"name": "Again Ltd", "membership_type": "Organisation"})
    # When the create webhook is fired again by hand
    fired = rms.control("POST", "deliver", json={
        "subdomain": "acme", "member_id": member["id"], "action_type": "create"})
    _wait(rms_app)
    # Then the receiver got it, and both outcomes are logged (None: no answer at all)
    assert fired.json()["action"]["subject_id"] == member["id"]
    assert [r["body"]["action"]["id"] for r in target.received] == [fired.json()["action"]["id"]]
    codes = [log["response_code"] for log in rms("GET", "/webhook_logs").json()["webhook_logs"]]
    assert codes == [503, None]
    assert rms.control("GET", "stats").json()["deliveries"] == 2


def test_delivery_can_be_turned_off(receiver):
    target, url = receiver
    with ServerThread(create_app(deliver_webhooks=False)) as server:
        headers = {"X-SUBDOMAIN": "acme", "X-AUTH-TOKEN": "k"}
        requests.post(f"{server.url}/_sandbox/accounts", timeout=5,
                      json={"subdomain": "acme", "api_key": "k"})
        requests.post(f"{server.url}/api/v1/webhooks", headers=headers, timeout=5, json={
            "webhook": {"name": "n", "event": "member_create", "target_url": url}})
        requests.post(f"{server.url}/api/v1/members", headers=headers, timeout=5,
                      json={"member": {"name": "Silent Ltd", "membership_type": "Organisation"}})
        assert server.app.extensions["sandbox_deliverer"].wait_idle(5.0)
        assert target.received == []


def test_bulk_helper_and_stats(rms):
    made = rms.control("POST", "members/bulk", json={"subdomain": "acme", "count": 250,
                                                     "prefix": "Bench"}).json()
    assert made["created"] == 250 and len(set(made["ids"])) == 250
    assert rms.control("GET", "stats").json()["members"] == 250
    listed = rms("GET", "/members", params={"filtermode": "organisation", "per_page": 100,
                                            "page": 3}).json()
    assert listed["meta"] == {"total_row_count": 250, "row_count": 50, "page": 3, "per_page": 100}
    assert listed["members"][-1]["name"] == "Bench 00250"
