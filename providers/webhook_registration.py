"""Register, re-point and remove the integration's webhooks in the rental system.

``member_create`` and ``member_update`` (the naming rule of Current RMS: subject and action in
lowercase joined by an underscore; reference current_rms.md §1.1) pointed at the service.
A failure never fails the caller: it is recorded on the integration and shown to operators.
"""
from __future__ import annotations

import structlog

from core.errors import ProviderError
from core.runtime import Runtime
from core.store import integrations
from core.tables import Integration
from providers import factory

log = structlog.get_logger(__name__)

EVENTS = ("member_create", "member_update")


def webhook_url(rt: Runtime, integration_id: str, token: str) -> str:
    return f"{rt.settings.public_url}/webhooks/current-rms/{integration_id}?token={token}"


def register(rt: Runtime, integration: Integration, target_url: str) -> bool:
    """(Re-)register both webhooks; ``True`` when both exist afterwards."""
    source = factory.rental_system(rt, integration)
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
    return True


def repoint(rt: Runtime, integration: Integration, target_url: str) -> bool:
    """Point the registered webhooks at a new URL (after a token rotation)."""
    if not integration.webhook_ids:
        return register(rt, integration, target_url)
    source = factory.rental_system(rt, integration)
    try:
        for webhook_id in integration.webhook_ids:
            source.update_webhook(webhook_id, target_url=target_url)
    except ProviderError as error:
        integrations.update(rt.db, integration.id, webhooks_registered=False, webhook_error=str(error))
        return False
    return True


def unregister(rt: Runtime, integration: Integration) -> None:
    source = factory.rental_system(rt, integration)
    for webhook_id in integration.webhook_ids or []:
        try:
            source.delete_webhook(webhook_id)
        except ProviderError as error:
            log.warning("could not remove a webhook", integration_id=integration.id,
                        webhook_id=webhook_id, error=str(error))
