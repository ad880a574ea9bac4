"""QuickBooks webhooks: change notifications, signed with the app's verifier token (interface §10).

Body ``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{"name", "id",
"operation", "lastUpdated"[, "deletedId"]}]}}]}``, header ``intuit-signature``: base64
HMAC-SHA256 of the raw body under the verifier token (QW1, QW4). Customer operations are
``Create``, ``Update``, ``Delete`` and ``Merge`` (the survivor's ``id`` with ``deletedId``).

``lastUpdated`` is the customer's ``MetaData.LastUpdatedTime`` as the change left it (the time
of the deletion for a customer gone), so a notification and the customer it reports carry one
stamp, as the service's echo check assumes. Intuit documents ``lastUpdated`` only as the time
the entity was updated: that it equals ``LastUpdatedTime`` is unconfirmed, and the service
falls back to a read whenever they differ.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.webhooks import Subscription, WebhookSender


@dataclass(frozen=True)
class Change:
    id: str
    operation: str  #: Create | Update | Delete | Merge
    deleted_id: str | None = None
    name: str = "Customer"
    #: The entity's ``MetaData.LastUpdatedTime`` after the change (now when not given).
    last_updated: str | None = None


def stamp_of(record: dict[str, Any]) -> str | None:
    """``MetaData.LastUpdatedTime`` of a record as the store answers it."""
    return (record.get("MetaData") or {}).get("LastUpdatedTime")


def notify(sender: WebhookSender, realm_id: str, changes: list[Change]) -> None:
    """One notification of ``changes`` to every subscription covering the realm."""
    if not changes:
        return
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    entities = []
    for change in changes:
        entity = {"name": change.name, "id": change.id, "operation": change.operation,
                  "lastUpdated": change.last_updated or now}
        if change.deleted_id:
            entity["deletedId"] = change.deleted_id
        entities.append(entity)
    body = json.dumps({"eventNotifications": [
        {"realmId": realm_id, "dataChangeEvent": {"entities": entities}}]}).encode()

    def same_body(_: Subscription) -> bytes:
        return body

    sender.send(realm_id, same_body)
