"""The webhook answer table of interface §4, row by row and in its order.

Each refusal is checked to leave nothing behind: no event row, no message in Redis (the
Dramatiq ``sync`` queue list and its ``.msgs`` hash). The integration is made through the
admin API against the sandbox rental system, as an operator would.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any, Iterator

import pytest
import requests
import sqlalchemy

from core.db import Database
from core.runtime import Runtime
from core.store import events, integrations
from core.tables import utcnow
from sandbox.runner import ServerThread
from tests.support import create_integration, webhook_path
from webhooks import create_app, signatures
from workers import outbox_sender

MIB = 1024 * 1024
SIGNING_SECRET = "whsec-0123456789abcdef0123456789abcdef"
QUEUE_LIST, QUEUE_MESSAGES = "dramatiq:sync", "dramatiq:sync.msgs"
_ids = iter(range(10_000, 10**9))


# --- helpers -----------------------------------------------------------------------------


def action(**changes: Any) -> dict[str, Any]:
    body = {"id": next(_ids), "subject_id": 205100, "subject_type": "Member", "action_type": "update"}
    body.update(changes)
    return {"action": {k: v for k, v in body.items() if v is not MISSING}}


MISSING = object()


def encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def post(
    client: Any, integration: dict[str, Any], body: Any, *, token: str | None | object = ...,
    content_type: str | None = "application/json", headers: dict[str, str] | None = None,
    path: str | None = None,
) -> Any:
    url = path or webhook_path(integration)
    if token is not ...:
        base = url.split("?", 1)[0]
        url = base if token is None else f"{base}?token={token}"
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return client.post(url, data=encode(body), headers=all_headers)


def signature(body: bytes, *, at: float | None = None, secret: str = SIGNING_SECRET) -> str:
    timestamp = int(at if at is not None else time.time())
    return f"t={timestamp},v1={signatures.sign(secret, timestamp, body)}"


def stored_events(rt: Runtime) -> int:
    with rt.db.engine.connect() as connection:
        return connection.execute(sqlalchemy.text("SELECT count(*) FROM events")).scalar_one()


def queued_messages(redis_client: Any) -> tuple[int, int]:
    # The webhook hands its message to a sender thread after the commit (workers/outbox_sender.py).
    assert outbox_sender.flush_all(5.0)
    return redis_client.llen(QUEUE_LIST), redis_client.hlen(QUEUE_MESSAGES)


def assert_nothing_kept(rt: Runtime, redis_client: Any) -> None:
    assert stored_events(rt) == 0
    assert queued_messages(redis_client) == (0, 0)


def assert_refused(response: Any, status: int, rt: Runtime, redis_client: Any) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body, dict) and body.get("error"), body
    assert_nothing_kept(rt, redis_client)
    return body


@pytest.fixture
def integration(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(client, admin, sandbox, "xero")


@pytest.fixture
def signed(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(client, admin, sandbox, "xero",
                              source={"signing_secret": SIGNING_SECRET})


# --- 404: no such integration, deleted or disabled --------------------------------------


def test_unknown_integration_is_404(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    # Given a well-formed delivery with a valid token, but to an id that does not exist
    token = integration["webhook_url"].split("token=", 1)[1]
    # When it is posted
    response = post(client, integration, action(), path=f"/webhooks/current-rms/{'f' * 32}?token={token}")
    # Then 404, and nothing is kept
    assert_refused(response, 404, rt, redis_client)


def test_overlong_integration_id_is_404(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    response = post(client, integration, action(), path=f"/webhooks/current-rms/{'a' * 300}?token=x")
    assert_refused(response, 404, rt, redis_client)


def test_deleted_integration_is_404(client: Any, admin: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    # Given a deleted integration
    assert client.delete(f"/api/integrations/{integration['id']}", headers=admin).status_code == 204
    # When its (formerly valid) webhook URL is called
    response = post(client, integration, action())
    # Then 404
    assert_refused(response, 404, rt, redis_client)


def test_disabled_integration_with_wrong_token_is_404_not_401(
    client: Any, admin: Any, integration: Any, rt: Any, redis_client: Any,
) -> None:
    # Given a disabled integration
    patched = client.patch(f"/api/integrations/{integration['id']}", json={"status": "disabled"}, headers=admin)
    assert patched.status_code == 200
    # When a delivery arrives with its right token, and one with a wrong token
    right = post(client, integration, action())
    wrong = post(client, integration, action(), token="wrong")
    # Then both are 404: the integration check comes first
    assert_refused(right, 404, rt, redis_client)
    assert_refused(wrong, 404, rt, redis_client)


# --- 401: the token ------------------------------------------------------------------------


def test_missing_or_wrong_token_is_401(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    for token in (None, "", "wrong", "x" * 43, integration["webhook_url"].split("token=", 1)[1][:-1]):
        assert_refused(post(client, integration, action(), token=token), 401, rt, redis_client)


def test_wrong_token_with_oversized_body_is_401_not_413(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    response = post(client, integration, b"{" + b" " * (MIB + 10) + b"}", token="wrong")
    assert_refused(response, 401, rt, redis_client)


def test_previous_token_is_accepted_for_24_hours_after_a_rotation(
    client: Any, admin: Any, integration: Any, rt: Any, redis_client: Any,
) -> None:
    # Given a rotated webhook token
    old_token = integration["webhook_url"].split("token=", 1)[1]
    rotated = client.post(f"/api/integrations/{integration['id']}/rotate-webhook-token", headers=admin)
    assert rotated.status_code == 200
    new_token = rotated.get_json()["webhook_url"].split("token=", 1)[1]
    assert new_token != old_token
    # When deliveries arrive with the old and the new token
    with_old = post(client, integration, action(), token=old_token)
    with_new = post(client, integration, action(), token=new_token)
    # Then both are accepted
    assert with_old.status_code == 202, with_old.get_json()
    assert with_new.status_code == 202, with_new.get_json()

    # When the 24 hours have passed
    integrations.update(rt.db, integration["id"], previous_token_valid_until=utcnow() - timedelta(seconds=1))
    late = post(client, integration, action(), token=old_token)
    # Then the old token is refused; the new one still works
    assert late.status_code == 401
    assert post(client, integration, action(), token=new_token).status_code == 202
    assert stored_events(rt) == 3


def test_previous_token_expiry_is_24_hours(client: Any, admin: Any, integration: Any, rt: Any) -> None:
    # When the token is rotated
    before = utcnow()
    answer = client.post(f"/api/integrations/{integration['id']}/rotate-webhook-token", headers=admin).get_json()
    # Then the previous one is valid for 24 hours, as stored and as answered
    stored = integrations.get(rt.db, integration["id"])
    assert stored is not None and stored.previous_token_valid_until is not None
    assert timedelta(hours=24) <= stored.previous_token_valid_until - before <= timedelta(hours=24, minutes=1)
    assert answer["previous_valid_until"].startswith(stored.previous_token_valid_until.isoformat()[:19])


# --- 401: the signature --------------------------------------------------------------------


def test_signed_integration_accepts_a_valid_signature(client: Any, signed: Any, rt: Any) -> None:
    body = encode(action())
    response = post(client, signed, body, headers={"X-Signature": signature(body)})
    assert response.status_code == 202, response.get_json()
    assert stored_events(rt) == 1


def test_signature_missing_or_malformed_is_401(client: Any, signed: Any, rt: Any, redis_client: Any) -> None:
    for header in (None, "", "t=abc,v1=00", "v1=" + "0" * 64, f"t={int(time.time())}", "garbage"):
        headers = {} if header is None else {"X-Signature": header}
        assert_refused(post(client, signed, action(), headers=headers), 401, rt, redis_client)


def test_signature_wrong_is_401(client: Any, signed: Any, rt: Any, redis_client: Any) -> None:
    body = encode(action())
    wrong_secret = signature(body, secret="another-secret")
    other_body = signature(encode(action()))
    assert_refused(post(client, signed, body, headers={"X-Signature": wrong_secret}), 401, rt, redis_client)
    assert_refused(post(client, signed, body, headers={"X-Signature": other_body}), 401, rt, redis_client)


def test_signature_must_be_within_five_minutes_either_way(client: Any, signed: Any, rt: Any, redis_client: Any) -> None:
    for offset in (-301, 301, -3600, 3600):
        body = encode(action())
        headers = {"X-Signature": signature(body, at=time.time() + offset)}
        assert_refused(post(client, signed, body, headers=headers), 401, rt, redis_client)
    for offset in (-290, 290):
        body = encode(action())
        response = post(client, signed, body, headers={"X-Signature": signature(body, at=time.time() + offset)})
        assert response.status_code == 202, (offset, response.get_json())


def test_several_v1_values_are_accepted_when_one_matches(client: Any, signed: Any, rt: Any) -> None:
    # Given a sender rotating its secret: it signs with the old and the new one
    body = encode(action())
    timestamp = int(time.time())
    header = (f"t={timestamp},v1={signatures.sign('old-secret', timestamp, body)},"
              f"v1={signatures.sign(SIGNING_SECRET, timestamp, body)}")
    # When it delivers
    response = post(client, signed, body, headers={"X-Signature": header})
    # Then the matching one is enough
    assert response.status_code == 202, response.get_json()


def test_unsigned_integration_ignores_x_signature(client: Any, integration: Any) -> None:
    response = post(client, integration, action(), headers={"X-Signature": "t=1,v1=00"})
    assert response.status_code == 202


def test_signature_checked_before_body_size(client: Any, signed: Any, rt: Any, redis_client: Any) -> None:
    # Given an oversized body: a missing, expired or wrong signature still answers 401
    body = b'{"pad": "' + b"a" * (MIB + 10) + b'"}'
    stale = signature(body, at=time.time() - 3600)
    wrong = signature(body, secret="not-the-secret")
    assert_refused(post(client, signed, body), 401, rt, redis_client)
    assert_refused(post(client, signed, body, headers={"X-Signature": stale}), 401, rt, redis_client)
    assert_refused(post(client, signed, body, headers={"X-Signature": wrong}), 401, rt, redis_client)
    # And a right signature on it reaches the size check
    right = signature(body)
    assert_refused(post(client, signed, body, headers={"X-Signature": right}), 413, rt, redis_client)


# --- 413: body over 1 MiB ------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A valid delivery of exactly ``size`` bytes (an unknown "pad" field fills it)."""
    head = encode({**action(), "pad": ""})
    return head.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(head)) + b'"')


def test_body_of_exactly_one_mib_is_accepted(client: Any, integration: Any) -> None:
    body = padded(MIB)
    assert len(body) == MIB
    assert post(client, integration, body).status_code == 202


def test_body_over_one_mib_is_413(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    body = padded(MIB + 1)
    assert len(body) == MIB + 1
    assert_refused(post(client, integration, body), 413, rt, redis_client)


def test_oversized_body_with_bad_content_type_is_413_not_415(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    response = post(client, integration, b"x" * (MIB + 1), content_type="text/plain")
    assert_refused(response, 413, rt, redis_client)


# --- 415: content type -------------------------------------------------------------------


def test_non_json_content_type_is_415(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "application/xml", "text/json", ""):
        response = post(client, integration, action(), content_type=content_type)
        assert_refused(response, 415, rt, redis_client)


def test_bad_content_type_with_invalid_json_is_415_not_400(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    response = post(client, integration, b"not json", content_type="text/plain")
    assert_refused(response, 415, rt, redis_client)


def test_json_content_types_and_none_are_accepted(client: Any, integration: Any, rt: Any) -> None:
    accepted = ("application/json", "application/json; charset=utf-8", "APPLICATION/JSON;charset=UTF-8",
                "application/vnd.something+json", "application/vnd.something+json; charset=utf-8", None)
    for content_type in accepted:
        response = post(client, integration, action(), content_type=content_type)
        assert response.status_code == 202, (content_type, response.get_json())
    assert stored_events(rt) == len(accepted)


# --- 400: the body -----------------------------------------------------------------------


def nested(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


NOT_OBJECTS = {
    "text": b"not json", "truncated": b'{"action": ', "empty": b"", "utf16-bom": b"\xff\xfe{}",
    "invalid-utf8": b'{"action": {"id": 1, "subject_id": 2, "subject_type": "\xc3\x28"}}',
    "empty-array": b"[]", "array": b'[{"action": {"id": 1, "subject_id": 2, "subject_type": "Member"}}]',
    "string": b'"Member"', "number": b"42", "null": b"null", "boolean": b"true",
    "nan": b'{"action": {"id": NaN, "subject_id": 2, "subject_type": "Member"}}',
}


def test_not_a_json_object_is_400_with_fields(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    for name, body in NOT_OBJECTS.items():
        response = post(client, integration, body)
        assert response.status_code == 400, name
        answer = assert_refused(response, 400, rt, redis_client)
        assert isinstance(answer.get("fields"), dict), (name, answer)


def test_nesting_of_33_levels_is_400_and_32_accepted(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    # The top object is level 1, "action" level 2: an extra value of 30 levels makes 32
    accepted = action()
    accepted["action"]["extra"] = nested(30)
    refused = action()
    refused["action"]["extra"] = nested(31)
    as_list = action()
    as_list["list"] = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]  # 32 lists: 33 levels
    answer = assert_refused(post(client, integration, refused), 400, rt, redis_client)
    assert "fields" in answer
    assert_refused(post(client, integration, as_list), 400, rt, redis_client)
    assert post(client, integration, accepted).status_code == 202


def test_very_deep_nesting_is_400_not_500(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    assert_refused(post(client, integration, body), 400, rt, redis_client)


def test_missing_action_or_action_not_an_object_is_400(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    bodies = [{}, {"Action": {"id": 1, "subject_id": 2, "subject_type": "Member"}}, {"action": None},
              {"action": []}, {"action": "update"}, {"action": 5}, {"action": True}]
    for body in bodies:
        answer = assert_refused(post(client, integration, body), 400, rt, redis_client)
        assert "action" in answer["fields"], (body, answer)


BAD_IDS = [MISSING, None, True, False, 1.0, 1.5, "1", "", 0, -1, -(2**63), 2**63, 2**64, [], {}]
BAD_ID_NAMES = ["missing", "null", "true", "false", "float-1.0", "float", "string", "empty", "zero",
                "negative", "min-int64", "2^63", "2^64", "list", "object"]


@pytest.mark.parametrize("key", ["id", "subject_id"])
def test_bad_ids_are_400_naming_the_field(key: str, client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    for name, value in zip(BAD_ID_NAMES, BAD_IDS, strict=True):
        response = post(client, integration, action(**{key: value}))
        assert response.status_code == 400, (name, response.get_json())
        answer = assert_refused(response, 400, rt, redis_client)
        assert key in answer["fields"]["action"], (name, answer)


@pytest.mark.parametrize("key", ["id", "subject_id"])
def test_ids_of_one_and_two_to_the_63_minus_one_are_accepted(key: str, client: Any, integration: Any, rt: Any) -> None:
    biggest = post(client, integration, action(**{key: 2**63 - 1}))
    smallest = post(client, integration, action(**{key: 1}))
    assert (biggest.status_code, smallest.status_code) == (202, 202), biggest.get_json()
    stored = events.get(rt.db, biggest.get_json()["event_id"])
    assert stored is not None
    if key == "id":
        assert stored.source_event_id == str(2**63 - 1)
    else:
        assert stored.organisation_id == 2**63 - 1


def test_subject_type_missing_or_not_a_string_is_400(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    for value in (MISSING, None, 5, True, [], {"name": "Member"}):
        answer = assert_refused(post(client, integration, action(subject_type=value)), 400, rt, redis_client)
        assert "subject_type" in answer["fields"]["action"], (value, answer)


# --- 200 duplicate ------------------------------------------------------------------------


def test_duplicate_answers_200_with_the_first_event_and_its_current_status(
    client: Any, integration: Any, rt: Any, redis_client: Any,
) -> None:
    # Given a delivery recorded and queued
    body = action(action_type="create")
    first = post(client, integration, body)
    assert first.status_code == 202
    event_id = first.get_json()["event_id"]
    # When the same action.id arrives again (even with other content)
    again = post(client, integration, {**body, "action": {**body["action"], "action_type": "update"}})
    # Then 200 with the first event and its status, and nothing more is queued
    assert again.status_code == 200
    assert again.get_json() == {"event_id": event_id, "status": "queued", "duplicate": True}
    assert stored_events(rt) == 1
    assert queued_messages(redis_client) == (1, 1)

    # When the first has been processed meanwhile
    assert events.claim(rt.db, event_id, lease_seconds=30) is not None
    events.finish(rt.db, event_id, status="succeeded", outcome={"action": "none", "contact_id": None,
                                                                "overwritten": False, "reason": None})
    late = post(client, integration, body)
    # Then the duplicate reports the current status, and the first event is unchanged
    assert late.get_json() == {"event_id": event_id, "status": "succeeded", "duplicate": True}
    stored = events.get(rt.db, event_id)
    assert stored is not None and stored.kind == "create" and stored.status == "succeeded"
    assert queued_messages(redis_client) == (1, 1)


def test_same_action_id_for_two_integrations_is_two_events(client: Any, admin: Any, sandbox: Any, integration: Any, rt: Any) -> None:
    other = create_integration(client, admin, sandbox, "sage")
    body = action()
    assert post(client, integration, body).status_code == 202
    assert post(client, other, body).status_code == 202
    assert stored_events(rt) == 2


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    with ServerThread(app) as server:
        yield server.url


def test_five_concurrent_identical_deliveries_make_one_event(
    served: str, integration: Any, rt: Any, redis_client: Any,
) -> None:
    # Given five senders ready to post the same delivery at the same moment over HTTP
    body = encode(action())
    url = served + webhook_path(integration)
    start, answers = threading.Barrier(5), []

    def deliver() -> None:
        start.wait()
        response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=20)
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    # When they all post
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then one 202 and four duplicates naming the same event; one row; one message
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 200, 200, 200, 202], answers
    assert len({answer["event_id"] for _, answer in answers}) == 1
    assert all(answer.get("duplicate") is True for status, answer in answers if status == 200)
    assert stored_events(rt) == 1
    assert queued_messages(redis_client) == (1, 1)


# --- 202 skipped / queued ------------------------------------------------------------------


def test_non_member_subject_is_recorded_skipped_and_not_queued(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    for subject_type in ("Opportunity", "member", "", "Product"):
        response = post(client, integration, action(subject_type=subject_type))
        assert response.status_code == 202
        answer = response.get_json()
        assert answer == {"event_id": answer["event_id"], "status": "skipped"}
        stored = events.get(rt.db, answer["event_id"])
        assert stored is not None and stored.status == "skipped" and stored.subject_type == subject_type
    assert stored_events(rt) == 4
    assert queued_messages(redis_client) == (0, 0)


def test_new_delivery_is_committed_before_the_answer_and_queued(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    # When a new delivery is answered
    body = action(subject_id=4242)
    response = post(client, integration, body)
    assert response.status_code == 202
    answer = response.get_json()
    assert answer == {"event_id": answer["event_id"], "status": "queued"}
    # Then another connection (another process would see the same) reads it at once
    reader = Database(rt.settings.database_url)
    try:
        with reader.engine.connect() as connection:
            row = connection.execute(sqlalchemy.text(
                "SELECT integration_id, source_event_id, organisation_id, status FROM events WHERE id = :id"
            ), {"id": answer["event_id"]}).one()
    finally:
        reader.dispose()
    assert tuple(row) == (integration["id"], str(body["action"]["id"]), 4242, "queued")
    # And the broker holds one message for it
    assert queued_messages(redis_client) == (1, 1)
    message = json.loads(redis_client.hvals(QUEUE_MESSAGES)[0])
    assert message["args"] == [answer["event_id"]]


def test_unknown_fields_are_kept_in_the_stored_payload(client: Any, admin: Any, integration: Any, rt: Any) -> None:
    body = action()
    body["action"].update(member_id=7, action_type="update", source_type="Member",
                          custom={"nested": [1, {"deep": "é"}]}, name=None)
    body["future_top_level"] = {"x": 1}
    response = post(client, integration, body)
    assert response.status_code == 202
    event_id = response.get_json()["event_id"]
    stored = events.get(rt.db, event_id)
    assert stored is not None and stored.payload == body
    assert client.get(f"/api/events/{event_id}", headers=admin).get_json()["payload"] == body


def test_kind_is_derived_from_action_type(client: Any, integration: Any, rt: Any) -> None:
    cases = [("create", "create"), ("update", "update"), (MISSING, "update"), (None, "update"),
             ("destroy", "update"), ("CREATE", "update"), (1, "update")]
    for action_type, kind in cases:
        response = post(client, integration, action(action_type=action_type))
        assert response.status_code == 202, response.get_json()
        stored = events.get(rt.db, response.get_json()["event_id"])
        assert stored is not None and stored.kind == kind, action_type


# --- 503: the database is down -------------------------------------------------------------


def test_database_unreachable_is_503_and_nothing_queued(rt: Any, redis_client: Any, integration: Any) -> None:
    # Given the web process pointed at a PostgreSQL that does not answer (a closed port)
    down = Runtime(
        settings=rt.settings.with_overrides(database_url="postgresql+psycopg://postgres@127.0.0.1:9/none"),
        db=Database("postgresql+psycopg://postgres@127.0.0.1:9/none", connect_args={"connect_timeout": 2}),
        redis=rt.redis, vault=rt.vault,
    )
    try:
        client = create_app({"TESTING": True}, rt=down).test_client()
        # When a good delivery arrives
        response = post(client, integration, action())
    finally:
        down.db.dispose()
    # Then 503 with a Retry-After, and nothing is handed to the broker
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers.get("Retry-After")
    assert queued_messages(redis_client) == (0, 0)


def test_insert_failing_is_503_and_nothing_queued(client: Any, integration: Any, rt: Any, redis_client: Any) -> None:
    # Given a database that can still read the integration but can no longer store events
    # (the events table gone, as after a broken migration)
    with rt.db.engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP TABLE event_attempts"))
        connection.execute(sqlalchemy.text("DROP TABLE events"))
    # When a good delivery arrives
    response = post(client, integration, action())
    # Then 503, and nothing is queued
    assert response.status_code == 503
    assert queued_messages(redis_client) == (0, 0)


# --- chunked bodies over real HTTP -----------------------------------------------------------


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_chunked_bodies_are_bounded_too(served: str, integration: Any, rt: Any, redis_client: Any) -> None:
    # Given a sender that declares no length (chunked transfer encoding)
    url = served + webhook_path(integration)
    headers = {"Content-Type": "application/json"}
    # When it streams a body one byte over the limit
    over = requests.post(url, data=chunks(padded(MIB + 1)), headers=headers, timeout=20)
    # Then 413, nothing kept
    assert over.status_code == 413, over.text
    assert_nothing_kept(rt, redis_client)
    # And a body of exactly the limit, in small chunks, is accepted
    within = requests.post(url, data=chunks(padded(MIB), 4096), headers=headers, timeout=20)
    assert within.status_code == 202, within.text
    assert stored_events(rt) == 1
