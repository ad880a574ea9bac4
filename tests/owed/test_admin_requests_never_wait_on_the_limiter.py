"""No admin request waits long on the rental system's rate limiter (issue 13, finding 9;
interface §7). With the budget spent (a real penalty in the Redis limiter, as after a 429):
``DELETE`` answers 503 with ``Retry-After`` and deletes nothing; a token rotation answers at once
and its webhooks are re-pointed in the background once there is room."""
from __future__ import annotations

import time
from typing import Any

import requests

from core.ratelimit import RENTAL_LIMITS, RateLimiter
from core.store import integrations
from tests.support import create_integration
from workers.scheduler import finish_webhook_repoints

#: Seconds the rental system's budget stays spent: above the ~2 s a request may wait.
PENALTY = 6.0


def spend_rental_budget(rt: Any, subdomain: str, seconds: float) -> None:
    RateLimiter(rt.redis, system="current_rms", tenant=subdomain,
                limits=RENTAL_LIMITS).penalise(seconds)


def rental_webhooks(sandbox: Any, integration: dict[str, Any]) -> list[dict[str, Any]]:
    response = requests.get(
        f"{sandbox.current_rms}/api/v1/webhooks", timeout=5,
        headers={"X-SUBDOMAIN": integration["subdomain"], "X-AUTH-TOKEN": integration["api_key"]},
    )
    response.raise_for_status()
    return response.json()["webhooks"]


def test_delete_answers_503_with_retry_after_when_the_limiter_has_no_room(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given an integration with its webhooks registered, and the rental system's budget spent
    integration = create_integration(client, admin, sandbox, "xero")
    assert len(rental_webhooks(sandbox, integration)) == 2
    spend_rental_budget(rt, integration["subdomain"], PENALTY)

    # When it is deleted
    answer = client.delete(f"/api/integrations/{integration['id']}", headers=admin)

    # Then the answer is 503 with Retry-After, and nothing was deleted on either side
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert int(answer.headers["Retry-After"]) >= 1
    assert integrations.get(rt.db, integration["id"]).deleted_at is None
    assert len(rental_webhooks(sandbox, integration)) == 2


def test_rotation_answers_at_once_and_repoints_the_webhooks_once_there_is_room(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given an integration with its webhooks registered, and the rental system's budget spent
    integration = create_integration(client, admin, sandbox, "xero")
    spend_rental_budget(rt, integration["subdomain"], PENALTY)

    # When its webhook token is rotated
    answer = client.post(f"/api/integrations/{integration['id']}/rotate-webhook-token", headers=admin)

    # Then the rotation is answered with the new URL, while the webhooks still carry the old one
    assert answer.status_code == 200
    new_url = answer.get_json()["webhook_url"]
    assert {h["target_url"] for h in rental_webhooks(sandbox, integration)} == {integration["webhook_url"]}
    assert integrations.get(rt.db, integration["id"]).webhooks_registered is False

    # And once the budget has room again the scheduler's pass re-points them to the new URL
    time.sleep(1.0)
    assert finish_webhook_repoints(rt) == 1
    assert {h["target_url"] for h in rental_webhooks(sandbox, integration)} == {new_url}
    assert integrations.get(rt.db, integration["id"]).webhooks_registered is True
    assert finish_webhook_repoints(rt) == 0
