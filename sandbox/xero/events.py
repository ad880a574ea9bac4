"""Xero's webhook events: one delivery per change, signed per subscription (interface §10).

Body ``{"events": [...], "firstEventSequence", "lastEventSequence", "entropy"}``, signed with
``x-xero-signature`` (base64 HMAC-SHA256 of the raw body under the webhook key). Events carry ids
only (``resourceId``, ``resourceUrl``, ``tenantId``, ``eventCategory`` ``CONTACT``, ``eventType``
``CREATE``/``UPDATE``, ``eventDateUtc``); the receiver reads the contact itself (XW1).

``eventDateUtc`` is the contact's own ``UpdatedDateUTC`` as the change left it (to the
millisecond, as both are shown), so the change a delivery reports and the contact's state carry
one stamp, as the service's echo check assumes; a contact erased has none left: the time of
the erasure. That Xero's two stamps agree is unconfirmed (XW1 says only "the date and time that
event occurred"): the service falls back to a read whenever they differ.
"""
from __future__ import annotations

import json
import secrets
import string
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import request

from sandbox.webhooks import Subscription, hmac_base64
from sandbox.xero import contacts as shapes
from sandbox.xero.state import XeroState

#: Where the Accounting API is served (providers.md A1); ``resourceUrl`` points into it.
API_PREFIX = "/api.xro/2.0"
#: The intent-to-receive check's wrong signature is made under this key (never a real one).
WRONG_KEY = "not-the-webhook-key"


def notify(state: XeroState, tenant_id: str, changes: list[tuple[str, str]]) -> None:
    """Queue one delivery of ``changes`` ((contact id, CREATE|UPDATE), in order) to every
    subscription that covers the tenant. Call inside a request (the ``resourceUrl`` host)."""
    if not changes:
        return
    base = request.host_url.rstrip("/") + API_PREFIX
    with state.lock:
        contacts = state.tenant(tenant_id).contacts
        stamps = {contact_id: _event_date(contacts.get(contact_id.lower())) for contact_id, _ in changes}
    events = [{
        "resourceUrl": f"{base}/Contacts/{contact_id}", "resourceId": contact_id,
        "eventDateUtc": stamps[contact_id], "eventType": kind, "eventCategory": "CONTACT",
        "tenantId": tenant_id, "tenantType": "ORGANISATION",
    } for contact_id, kind in changes]

    def body_for(subscription: Subscription) -> bytes:
        first = state.sequences.get(subscription.id, 0) + 1
        last = first + len(events) - 1
        state.sequences[subscription.id] = last
        return json.dumps({"events": events, "firstEventSequence": first,
                           "lastEventSequence": last, "entropy": _entropy()}).encode()

    with state.lock:
        state.webhooks.send(tenant_id, body_for)


def _event_date(contact: dict[str, Any] | None) -> str:
    """``eventDateUtc`` (``2017-06-21T01:15:39.902``, UTC, no zone) of the contact's state."""
    if contact is None:
        moment = datetime.now(timezone.utc)
    else:
        ms = round(shapes.msdate_seconds(contact["UpdatedDateUTC"]) * 1000)
        moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def intent_to_receive(state: XeroState, subscription: Subscription) -> dict[str, Any]:
    """Xero's check before it turns a webhook on: a good signature must get 200, a bad one 401."""
    body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0,
                       "entropy": _entropy()}).encode()
    sender = state.webhooks
    good = sender.post_once(subscription.url, body, hmac_base64(subscription.secret, body))
    bad = sender.post_once(subscription.url, body, hmac_base64(WRONG_KEY, body))
    subscription.active = good == 200 and bad == 401
    return {"good_signature": good, "bad_signature": bad, "ok": subscription.active}


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))
