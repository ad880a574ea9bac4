"""The webhook served as plain WSGI in front of Flask (``WebhookIngress``) answers as a Flask
route would: other methods as Flask does, the security headers on every answer, the token read
exactly as Flask's ``request.args`` reads it."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from tests.support import create_integration, webhook_path
from webhooks import SECURITY_HEADERS
from webhooks.receiver import Incoming

QUERY_CHARACTERS = st.sampled_from(list("tokenab=&%+;20E2ACzZ7") + ["%74", "%6B", "%E2%82%AC", "%ZZ"])


@given(st.lists(QUERY_CHARACTERS, max_size=30).map("".join))
def test_the_token_is_read_as_flask_reads_it(query: str) -> None:
    flask_reads = next((value for name, value in parse_qsl(query, keep_blank_values=True) if name == "token"), None)
    assert Incoming({"QUERY_STRING": query}).token == flask_reads


def test_another_method_on_the_webhook_path_is_answered_as_by_flask(client: Any, admin: Any, sandbox: Any) -> None:
    integration = create_integration(client, admin, sandbox, "xero")
    answer = client.get(webhook_path(integration))
    assert answer.status_code == 405
    assert "POST" in answer.headers["Allow"]
    assert client.options(webhook_path(integration)).status_code == 200


def test_every_webhook_answer_carries_the_security_headers(client: Any, admin: Any, sandbox: Any) -> None:
    integration = create_integration(client, admin, sandbox, "xero")
    accepted = client.post(webhook_path(integration), json={"action": {
        "id": 424242, "subject_id": 7, "subject_type": "Member", "action_type": "create"}})
    refused = client.post(webhook_path(integration), json={"action": {}})
    wrong_token = client.post(f"/webhooks/current-rms/{integration['id']}?token=wrong", json={})
    for answer, status in ((accepted, 202), (refused, 400), (wrong_token, 401)):
        assert answer.status_code == status
        assert answer.is_json and "error" in answer.get_json() or status == 202
        for name, value in SECURITY_HEADERS:
            assert answer.headers[name] == value
