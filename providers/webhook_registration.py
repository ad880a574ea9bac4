"""Register, re-point and remove the integration's webhooks in the rental system.

``member_create`` and ``member_update`` (the naming rule of Current RMS: subject and action in
lowercase joined by an underscore; reference current_rms.md §1.1) pointed at the service.
A failure never fails the caller: it is recorded on the integration and shown to operators.

No web request waits more than ``ANSWER_WAIT_SECONDS`` on the rental system's rate limiter
(interface §7; issue 13, finding 9). Removing the webhooks (``DELETE``) raises ``RateLimited``
when there is no room, before the integration is changed, so the API answers 503 with
``Retry-After``. Re-pointing them after a token rotation (the rotation is already committed,
and the old token stays valid for 24 hours) keeps the new URL, sealed, as
``pending_webhook_url``, and ``finish_pending`` (the scheduler) re-points them in the background.
"""
from __future__ import annotations

import structlog

from core.errors import ProviderError, RateLimited
from core.models import IntegrationStatus
from core.ratelimit import MAX_WAIT
from core.runtime import Runtime
from core.store import integrations
from core.tables import Integration
from providers import factory

log = structlog.get_logger(__name__)

EVENTS = ("member_create", "member_update")
#: The longest a web request waits for the rental system's rate limiter (interface §7).
ANSWER_WAIT_SECONDS = 2.0
#: Where a rotation's new webhook URL waits, among the sealed secrets, until it is re-pointed.
PENDING_URL = "pending_webhook_url"


def webhook_url(rt: Runtime, integration_id: str, token: str) -> str:
    return f"{rt.settings.public_url}/webhooks/current-rms/{integration_id}?token={token}"


def register(rt: Runtime, integration: Integration, target_url: str, *,
             max_wait: float = ANSWER_WAIT_SECONDS) -> bool:
    """(Re-)register both webhooks; ``True`` when both exist afterwards. A rate limiter with no
    room within ``max_wait`` is a failure like any other (recorded; ``register-webhooks`` again)."""
    source = factory.rental_system(rt, integration, max_wait=max_wait)
    ids: list[int] = list(integration.webhook_ids or [])
    try:
        for webhook_id in ids:
            source.delete_webhook(webhook_id)
        ids = [
            source.register_webhook(name=f"accounting-link {event}", event=event, target_url=target_url)
            for event in EVENTS
        ]
    except ProviderError as error:
        integrations.update(rt.db, integration.id, webhooks_registered=False,
                            webhook_error=error.reason if error.reason else str(error), webhook_ids=ids)
        log.warning("webhook registration failed", integration_id=integration.id, error=str(error))
        return False
    integrations.update(rt.db, integration.id, webhooks_registered=True, webhook_error=None, webhook_ids=ids)
    _forget_pending(rt, integration)
    return True


def repoint(rt: Runtime, integration: Integration, target_url: str, *,
            max_wait: float = ANSWER_WAIT_SECONDS) -> bool:
    """Point the registered webhooks at a new URL (after a token rotation); ``True`` when done.
    With no room at the rate limiter within ``max_wait`` the URL is kept for ``finish_pending``."""
    if not integration.webhook_ids:
        return register(rt, integration, target_url, max_wait=max_wait)
    source = factory.rental_system(rt, integration, max_wait=max_wait)
    try:
        for webhook_id in integration.webhook_ids:
            source.update_webhook(webhook_id, target_url=target_url)
    except RateLimited:
        integrations.merge_secrets(rt.db, rt.vault, integration.id, {PENDING_URL: target_url})
        integrations.update(rt.db, integration.id, webhooks_registered=False,
                            webhook_error="re-pointing after the rate limit of the rental system")
        log.info("webhook re-pointing continues in the background", integration_id=integration.id)
        return False
    except ProviderError as error:
        integrations.update(rt.db, integration.id, webhooks_registered=False, webhook_error=str(error))
        return False
    integrations.update(rt.db, integration.id, webhooks_registered=True, webhook_error=None)
    _forget_pending(rt, integration)
    return True


def finish_pending(rt: Runtime) -> int:
    """Re-point the webhooks of every integration whose rotation left a new URL waiting (the
    scheduler); the number done."""
    done = 0
    for integration in integrations.all_active(rt.db):
        if integration.webhooks_registered or integration.status == IntegrationStatus.DISABLED:
            continue
        target_url = integrations.secrets_of(rt.vault, integration).get(PENDING_URL)
        if target_url and repoint(rt, integration, target_url, max_wait=MAX_WAIT):
            done += 1
    return done


def _forget_pending(rt: Runtime, integration: Integration) -> None:
    if integrations.secrets_of(rt.vault, integration).get(PENDING_URL):
        integrations.merge_secrets(rt.db, rt.vault, integration.id, {PENDING_URL: None})


def unregister(rt: Runtime, integration: Integration, *, max_wait: float = ANSWER_WAIT_SECONDS) -> None:
    """Remove the webhooks; one the rental system refuses is logged and forgotten. Raises
    ``RateLimited`` when the limiter has no room within ``max_wait``: the ids not yet removed
    stay recorded, so a second try removes the rest."""
    source = factory.rental_system(rt, integration, max_wait=max_wait)
    remaining = list(integration.webhook_ids or [])
    while remaining:
        webhook_id = remaining[0]
        try:
            source.delete_webhook(webhook_id)
        except RateLimited:
            integrations.update(rt.db, integration.id, webhook_ids=remaining)
            raise
        except ProviderError as error:
            log.warning("could not remove a webhook", integration_id=integration.id,
                        webhook_id=webhook_id, error=str(error))
        remaining.pop(0)
