"""QuickBooks webhooks: change notifications, signed with the app's verifier token (interface §10).

Body ``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{"name", "id",
"operation", "lastUpdated"[, "deletedId"]}]}}]}``, header ``intuit-signature``: base64
HMAC-SHA256 of the raw body under the verifier token (QW1, QW4). Customer operations are
``Create``, ``Update``, ``Delete`` and ``Merge`` (the survivor's ``id`` with ``deletedId``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox.webhooks import Subscription, WebhookSender


@dataclass(frozen=True)
class Change:
    id: str
    operation: str  #: Create | Update | Delete | Merge
    deleted_id: str | None = None
    name: str = "Customer"


def notify(sender: WebhookSender, realm_id: str, changes: list[Change]) -> None:
    """One notification of ``changes`` to every subscription covering the realm."""
    if not changes:
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    entities = []
    for change in changes:
        entity = {"name": change.name, "id": change.id, "operation": change.operation,
                  "lastUpdated": stamp}
        if change.deleted_id:
            entity["deletedId"] = change.deleted_id
        entities.append(entity)
    body = json.dumps({"eventNotifications": [
        {"realmId": realm_id, "dataChangeEvent": {"entities": entities}}]}).encode()

    def same_body(_: Subscription) -> bytes:
        return body

    sender.send(realm_id, same_body)
