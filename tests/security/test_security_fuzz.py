"""Property-based fuzzing of the webhook and of every admin body (issue 6, "Fuzzing"): thousands
of generated bodies, no 5xx, and nothing stored or queued from a refused request.

Each property runs inside its test (``@given`` on an inner function) so that it can use the
suite's fixtures; the examples are bounded (``FUZZ_SCALE`` multiplies them) so that the whole
module stays well under a minute.
"""
from __future__ import annotations

import json
import os
from functools import partial
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import Settings
from tests.conftest import make_env, migrate
from tests.security import fuzz_strategies as fz
from tests.security.security_support import changes, state
from tests.support import PROVIDER_PATHS, create_integration, webhook_path
from webhooks import schemas

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
ANSWERS_OF_WEBHOOK = {200, 202, 400, 401, 404, 413, 415}


def budget(examples: int) -> Any:
    return settings(max_examples=max(10, int(examples * SCALE)), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture
def fuzz_rt(tmp_path: Any, redis_client: Any, sandbox: Any) -> Any:
    """A runtime whose default URLs are the stand-ins, so nothing a body omits reaches the internet."""
    env = make_env(f"sqlite:///{tmp_path}/fuzz.db", CURRENT_RMS_API_URL=f"{sandbox.current_rms}/api/v1")
    for kind, (api_path, token_path, _) in PROVIDER_PATHS.items():
        env[f"{kind.upper()}_API_URL"] = f"{getattr(sandbox, kind)}{api_path}"
        env[f"{kind.upper()}_TOKEN_URL"] = f"{getattr(sandbox, kind)}{token_path}"
    settings_ = Settings.from_env(env)
    migrate(settings_.database_url)
    rt = Runtime.from_settings(settings_)
    runtime_module.install(rt)
    yield rt
    runtime_module.install(None)
    rt.close()


@pytest.fixture
def fuzz_client(fuzz_rt: Any) -> Any:
    from webhooks import create_app

    return create_app({"TESTING": True}, rt=fuzz_rt).test_client()


@pytest.fixture
def integration(fuzz_client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(fuzz_client, admin, sandbox, "xero")


def check(rt: Any, send: Callable[[], Any], allowed: set[int] | None = None) -> Any:
    """Send one request; no 5xx; a 4xx leaves every table and every Redis key as it was."""
    before = state(rt)
    response = send()
    status = response.status_code
    assert status < 500, (status, response.get_data(as_text=True)[:300])
    assert allowed is None or status in allowed, (status, response.get_data(as_text=True)[:300])
    if 400 <= status < 500:
        assert changes(before, state(rt)) == [], (status, response.get_data(as_text=True)[:300])
    return response


# --- the webhook ----------------------------------------------------------------------------


def post_webhook(client: Any, path: str, body: bytes, content_type: str | None) -> Any:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return client.post(path, data=body, headers=headers)


def stored_payload_is_the_body(client: Any, admin: Any, response: Any, body: bytes) -> None:
    if response.status_code != 202:
        return
    event = client.get(f"/api/events/{response.get_json()['event_id']}", headers=admin).get_json()
    assert event["payload"] == json.loads(body)


def test_webhook_survives_any_json_value(fuzz_client: Any, fuzz_rt: Any, admin: Any, integration: Any) -> None:
    path = webhook_path(integration)

    @budget(300)
    @given(value=fz.JSON_VALUES | fz.deep(fz.JSON_VALUES), content_type=fz.CONTENT_TYPES)
    def run(value: Any, content_type: str | None) -> None:
        body = fz.encoded(value)
        response = check(fuzz_rt, lambda: post_webhook(fuzz_client, path, body, content_type), ANSWERS_OF_WEBHOOK)
        stored_payload_is_the_body(fuzz_client, admin, response, body)

    run()


def test_webhook_survives_webhook_shaped_bodies(fuzz_client: Any, fuzz_rt: Any, admin: Any, integration: Any) -> None:
    path = webhook_path(integration)

    @budget(400)
    @given(value=fz.WEBHOOK_SHAPED | fz.deep(fz.WEBHOOK_SHAPED), content_type=fz.CONTENT_TYPES)
    def run(value: Any, content_type: str | None) -> None:
        body = fz.encoded(value)
        response = check(fuzz_rt, lambda: post_webhook(fuzz_client, path, body, content_type), ANSWERS_OF_WEBHOOK)
        stored_payload_is_the_body(fuzz_client, admin, response, body)

    run()


def test_webhook_survives_raw_bytes_and_bad_tokens(fuzz_client: Any, fuzz_rt: Any, integration: Any) -> None:
    path = webhook_path(integration)
    base = path.split("?", 1)[0]

    @budget(250)
    @given(body=fz.RAW_BODIES, content_type=fz.CONTENT_TYPES,
           target=st.sampled_from([path, base, f"{base}?token=", f"{base}?token=x"]) | st.text(max_size=30).map(
               lambda t: f"{base}?token={t}"))
    def run(body: bytes, content_type: str | None, target: str) -> None:
        check(fuzz_rt, lambda: post_webhook(fuzz_client, target, body, content_type), ANSWERS_OF_WEBHOOK)

    run()


def test_non_json_constants_are_refused_not_stored(fuzz_client: Any, fuzz_rt: Any, integration: Any) -> None:
    # Given bodies Python's json module reads but that are not JSON (RFC 8259 has no NaN)
    path = webhook_path(integration)
    for body in (b'{"action": {"id": 1, "subject_id": 2, "subject_type": "Member"}, "x": NaN}',
                 b'{"action": {"id": 1, "subject_id": 2, "subject_type": "Member"}, "x": -Infinity}'):
        # When each is sent / Then it is a 400 and nothing is stored
        response = check(fuzz_rt, partial(post_webhook, fuzz_client, path, body, "application/json"))
        assert response.status_code == 400, response.get_json()


# --- the admin API --------------------------------------------------------------------------


def admin_call(client: Any, admin: Any, method: str, path: str, body: Any, content_type: str | None) -> Any:
    data = body if isinstance(body, bytes) else fz.encoded(body)
    headers = {**admin, **({} if content_type is None else {"Content-Type": content_type})}
    return getattr(client, method)(path, data=data, headers=headers)


def admin_bodies(schema: Any, urls: list[str]) -> st.SearchStrategy[Any]:
    return (fz.schema_bodies(schema, urls) | fz.JSON_VALUES | fz.deep(fz.schema_bodies(schema, urls))
            | fz.RAW_BODIES)


#: Content types: mostly JSON (so that the schemas are reached), sometimes anything.
ADMIN_CONTENT_TYPES = st.just("application/json") | fz.CONTENT_TYPES


def stand_in_urls(sandbox: Any) -> list[str]:
    return [f"{sandbox.current_rms}/api/v1"] + [
        f"{getattr(sandbox, kind)}{paths[i]}" for kind, paths in PROVIDER_PATHS.items() for i in (0, 1)]


def test_admin_create_survives_generated_bodies(fuzz_client: Any, fuzz_rt: Any, admin: Any, sandbox: Any) -> None:
    urls = stand_in_urls(sandbox)

    @budget(250)
    @given(body=admin_bodies(schemas.IntegrationCreateSchema(), urls), content_type=ADMIN_CONTENT_TYPES)
    def run(body: Any, content_type: str | None) -> None:
        check(fuzz_rt, lambda: admin_call(fuzz_client, admin, "post", "/api/integrations", body, content_type))

    run()


def test_admin_patch_survives_generated_bodies(fuzz_client: Any, fuzz_rt: Any, admin: Any, sandbox: Any,
                                               integration: Any) -> None:
    urls = stand_in_urls(sandbox)
    path = f"/api/integrations/{integration['id']}"

    @budget(250)
    @given(body=admin_bodies(schemas.IntegrationPatchSchema(), urls), content_type=ADMIN_CONTENT_TYPES)
    def run(body: Any, content_type: str | None) -> None:
        check(fuzz_rt, lambda: admin_call(fuzz_client, admin, "patch", path, body, content_type))

    run()


def test_admin_link_put_survives_generated_bodies(fuzz_client: Any, fuzz_rt: Any, admin: Any, sandbox: Any,
                                                  integration: Any) -> None:
    base = f"/api/integrations/{integration['id']}/links"
    # A well-formed GUID reaches the Xero stand-in: a few, to stay inside its rate limit.
    contact_ids = st.uuids().map(str) | fz.field_values(schemas.LinkPutSchema().fields["contact_id"], [])
    bodies = st.fixed_dictionaries({}, optional={"contact_id": contact_ids}) | admin_bodies(schemas.LinkPutSchema(), [])
    organisations = st.sampled_from(["42", "1", "0", "-1", "x", "9" * 30, "%00", "4.2"])

    @budget(150)
    @given(body=bodies, organisation=organisations, content_type=ADMIN_CONTENT_TYPES)
    def run(body: Any, organisation: str, content_type: str | None) -> None:
        check(fuzz_rt, lambda: admin_call(fuzz_client, admin, "put", f"{base}/{organisation}", body, content_type))

    run()


def test_admin_replay_and_jobs_survive_generated_bodies(fuzz_client: Any, fuzz_rt: Any, admin: Any,
                                                        integration: Any) -> None:
    base = f"/api/integrations/{integration['id']}"
    job_options = st.fixed_dictionaries({}, optional={"batch_size": fz.ID_VALUES})
    targets = st.sampled_from(["/api/events/replay", f"{base}/export", f"{base}/import"])

    @budget(250)
    @given(target=targets, body=admin_bodies(schemas.ReplayFilterSchema(), []) | job_options,
           content_type=ADMIN_CONTENT_TYPES)
    def run(target: str, body: Any, content_type: str | None) -> None:
        check(fuzz_rt, lambda: admin_call(fuzz_client, admin, "post", target, body, content_type))

    run()


def test_admin_paths_survive_generated_ids(fuzz_client: Any, fuzz_rt: Any, admin: Any) -> None:
    routes = st.sampled_from([
        ("get", "/api/integrations/{}"), ("patch", "/api/integrations/{}"), ("delete", "/api/integrations/{}"),
        ("post", "/api/integrations/{}/rotate-webhook-token"), ("get", "/api/events/{}"),
        ("post", "/api/events/{}/replay"), ("get", "/api/jobs/{}"), ("post", "/api/jobs/{}/cancel"),
        ("get", "/api/integrations/{}/links"), ("get", "/api/events?integration={}"),
        ("get", "/api/events?limit={}"), ("get", "/api/events?since={}"), ("get", "/api/events?cursor={}"),
    ])
    ids = st.text(max_size=80).filter(lambda t: "/" not in t and "?" not in t and "#" not in t)

    @budget(200)
    @given(route=routes, identifier=ids)
    def run(route: tuple[str, str], identifier: str) -> None:
        method, template = route
        check(fuzz_rt, lambda: admin_call(fuzz_client, admin, method, template.format(identifier), {}, None))

    run()
