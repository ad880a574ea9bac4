"""Integrations: their settings, sealed secrets, policies, status and webhook secrets."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core import webhook_tokens
from core.crypto import Vault
from core.db import Database
from core.models import IntegrationStatus
from core.tables import Integration, utcnow


@dataclass(frozen=True)
class NewIntegration:
    name: str
    provider_kind: str
    source_subdomain: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)
    policies: dict[str, Any] = field(default_factory=dict)


def create(db: Database, vault: Vault, new: NewIntegration) -> tuple[Integration, str]:
    """Store a new integration; returns it and its webhook secret (shown once, never stored)."""
    token = webhook_tokens.new_token()
    with db.session() as session:
        integration = Integration(
            name=new.name, provider_kind=new.provider_kind,
            source_subdomain=new.source_subdomain, settings=dict(new.settings),
            sealed_secrets=vault.seal(new.secrets), policies=dict(new.policies),
            webhook_token_digest=webhook_tokens.digest(token), status=IntegrationStatus.ACTIVE,
            webhook_ids=[], webhooks_registered=False,
        )
        session.add(integration)
        session.flush()
        integration.poll_watermark = integration.created_at
    return integration, token


def get(db: Database, integration_id: str, *, include_deleted: bool = False) -> Integration | None:
    with db.reading() as session:
        integration = session.get(Integration, integration_id)
    if integration is None or (integration.deleted_at is not None and not include_deleted):
        return None
    return integration


#: What the webhook receiver reads of an integration: one narrow row, no ORM object.
WEBHOOK_COLUMNS = (
    Integration.id, Integration.status, Integration.deleted_at, Integration.settings,
    Integration.sealed_secrets, Integration.webhook_token_digest,
    Integration.previous_token_digest, Integration.previous_token_valid_until,
)


def for_webhook(db: Database, integration_id: str) -> Any | None:
    """The columns a delivery is checked against (attribute access like an ``Integration``),
    or ``None`` for an unknown or deleted integration."""
    with db.read_engine.connect() as connection:
        row = connection.execute(select(*WEBHOOK_COLUMNS).where(Integration.id == integration_id)).first()
    return None if row is None or row.deleted_at is not None else row


def all_active(db: Database) -> list[Integration]:
    with db.reading() as session:
        return list(session.scalars(
            select(Integration).where(Integration.deleted_at.is_(None)).order_by(Integration.created_at)
        ))


def update(db: Database, integration_id: str, **values: Any) -> Integration | None:
    with db.session() as session:
        integration = session.get(Integration, integration_id)
        if integration is None:
            return None
        for key, value in values.items():
            setattr(integration, key, value)
    return integration


def merge_settings(db: Database, integration_id: str, changes: dict[str, Any]) -> None:
    """Merge non-secret settings (a provider's ShortCode, a resolved Sage business)."""
    with db.session() as session:
        integration = session.get(Integration, integration_id)
        if integration is not None:
            integration.settings = {**(integration.settings or {}), **changes}


def secrets_of(vault: Vault, integration: Integration) -> dict[str, Any]:
    return vault.open(integration.sealed_secrets)


def merge_secrets(db: Database, vault: Vault, integration_id: str, changes: dict[str, Any]) -> None:
    """Merge and re-seal secrets (rotated OAuth tokens are stored here before use)."""
    with db.session() as session:
        integration = session.get(Integration, integration_id)
        if integration is not None:
            current = vault.open(integration.sealed_secrets)
            integration.sealed_secrets = vault.seal({**current, **changes})


def set_status(db: Database, integration_id: str, status: str, reason: str | None = None) -> None:
    update(db, integration_id, status=status, status_reason=reason)


def rotate_webhook_token(db: Database, integration_id: str) -> tuple[str, datetime] | None:
    with db.session() as session:
        integration = session.get(Integration, integration_id)
        if integration is None or integration.deleted_at is not None:
            return None
        return webhook_tokens.rotate(integration)


def soft_delete(db: Database, integration_id: str) -> bool:
    """Remove credentials and mark deleted; events and links are kept for the record."""
    with db.session() as session:
        integration = session.get(Integration, integration_id)
        if integration is None or integration.deleted_at is not None:
            return False
        integration.deleted_at = utcnow()
        integration.status = IntegrationStatus.DISABLED
        integration.sealed_secrets = None
        integration.webhook_ids = []
        integration.webhooks_registered = False
        return True


def reseal_all(db: Database, vault: Vault) -> int:
    """Re-encrypt every integration's secrets with the first key (``flask keys rotate``)."""
    count = 0
    with db.session() as session:
        for integration in session.scalars(select(Integration)):
            if integration.sealed_secrets:
                integration.sealed_secrets = vault.rotate(integration.sealed_secrets)
                count += 1
    return count
