"""Signed webhook deliveries with the real systems' retry ladders (Xero and QuickBooks stand-ins).

A ``WebhookSender`` holds subscriptions (a URL, a signing secret, optionally one tenant) and a
queue of deliveries. A background thread posts each delivery's exact bytes, signed, and retries
a delivery that was not answered 200 in time, by the system's ladder:

- Xero: answer 200 within 5 s; failed deliveries are "retried less and less often for 24 h", then
  the subscription is disabled (developer.xero.com webhooks/configuring-your-server). The exact
  intervals are unconfirmed: the ladder below doubles from one minute.
- QuickBooks: answer within 3 s; retries at 10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h, 6 h, then
  every 6 h (Intuit webhooks best practices); later notifications wait until the first is
  acknowledged, so its deliveries go out in order.

``time_scale`` shrinks every interval (0.001 turns 10 s into 10 ms) so tests see the retries
quickly; the answer timeouts stay real.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

#: Seconds after the first attempt at which QuickBooks tries again (QW3); then every 6 h.
QUICKBOOKS_RETRIES = (10.0, 20.0, 30.0, 300.0, 1200.0, 7200.0, 14400.0, 21600.0)
QUICKBOOKS_EVERY = 21600.0
QUICKBOOKS_TIMEOUT = 3.0
#: Xero: less and less often, for 24 h (XW2). Doubling from a minute is this stand-in's choice.
XERO_RETRIES = tuple(60.0 * 2 ** n for n in range(11))  # 1 min … ~17 h, all within a day
XERO_GIVE_UP = 24 * 3600.0
XERO_TIMEOUT = 5.0


def hmac_base64(secret: str, body: bytes) -> str:
    """Base64 of HMAC-SHA256(body) under ``secret``: both systems' signature."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Subscription:
    id: int
    url: str
    secret: str
    #: Only this tenant's events (``None``: every tenant, as one app's webhook receives).
    tenant: str | None = None
    active: bool = True

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "tenant": self.tenant, "active": self.active}


@dataclass
class Delivery:
    id: int
    subscription: Subscription
    body: bytes
    first_at: float
    next_at: float
    signature: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    state: str = "pending"  #: pending | delivered | abandoned

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "subscription": self.subscription.id, "url": self.subscription.url,
                "state": self.state, "attempts": list(self.attempts),
                "body": self.body.decode(), "signature": self.signature}


class WebhookSender:
    """Subscriptions, deliveries and the thread that sends them."""

    def __init__(self, *, header: str, retries: tuple[float, ...], then_every: float | None,
                 give_up_after: float | None, timeout: float, ordered: bool,
                 time_scale: float = 1.0) -> None:
        self.header = header
        self.retries, self.then_every, self.give_up_after = retries, then_every, give_up_after
        self.timeout, self.ordered, self.time_scale = timeout, ordered, time_scale
        self.subscriptions: list[Subscription] = []
        self.deliveries: list[Delivery] = []
        self._ids = itertools.count(1)
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- configuration ------------------------------------------------------------------------
    def subscribe(self, url: str, secret: str, tenant: str | None = None) -> Subscription:
        with self._wake:
            subscription = Subscription(next(self._ids), url, secret, tenant)
            self.subscriptions.append(subscription)
            return subscription

    def reset(self) -> None:
        with self._wake:
            self.subscriptions.clear()
            self.deliveries.clear()

    def listing(self) -> dict[str, Any]:
        with self._wake:
            return {"subscriptions": [s.public() for s in self.subscriptions],
                    "deliveries": [d.public() for d in self.deliveries]}

    # -- sending ------------------------------------------------------------------------------
    def send(self, tenant: str, build: Callable[[Subscription], bytes]) -> list[int]:
        """Queue one delivery per active subscription that covers ``tenant``; ``build`` makes
        the body for each (Xero numbers events per subscription). Returns the delivery ids."""
        now = time.monotonic()
        queued = []
        with self._wake:
            for subscription in self.subscriptions:
                if not subscription.active or subscription.tenant not in (None, tenant):
                    continue
                body = build(subscription)
                delivery = Delivery(next(self._ids), subscription, body, now, now,
                                    hmac_base64(subscription.secret, body))
                self.deliveries.append(delivery)
                queued.append(delivery.id)
            if queued:
                self._ensure_thread()
                self._wake.notify_all()
        return queued

    def post_once(self, url: str, body: bytes, signature: str) -> int | str:
        """One signed POST outside the queue (Xero's intent-to-receive check): status or error."""
        try:
            answer = requests.post(url, data=body, timeout=self.timeout, headers={
                "Content-Type": "application/json", self.header: signature})
        except requests.RequestException as error:
            return type(error).__name__
        return answer.status_code

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopped:
                    return
                due, wait = self._next_due()
                if due is None:
                    self._wake.wait(timeout=wait)
                    continue
            self._attempt(due)

    def _next_due(self) -> tuple[Delivery | None, float]:
        now = time.monotonic()
        wait = 1.0
        blocked: set[int] = set()
        for delivery in self.deliveries:
            if delivery.state != "pending":
                continue
            if self.ordered and delivery.subscription.id in blocked:
                continue  # QuickBooks: later notifications wait for the first one
            if delivery.next_at <= now:
                return delivery, 0.0
            wait = min(wait, delivery.next_at - now)
            blocked.add(delivery.subscription.id)
        return None, max(0.001, wait)

    def _attempt(self, delivery: Delivery) -> None:
        outcome = self.post_once(delivery.subscription.url, delivery.body, delivery.signature)
        with self._wake:
            delivery.attempts.append({"at": time.time(), "answer": outcome})
            if outcome == 200:
                delivery.state = "delivered"
                return
            self._schedule_retry(delivery)

    def _schedule_retry(self, delivery: Delivery) -> None:
        tried = len(delivery.attempts)
        if tried <= len(self.retries):
            offset = self.retries[tried - 1]
        elif self.then_every is not None:
            offset = self.retries[-1] + self.then_every * (tried - len(self.retries))
        else:
            offset = None
        if offset is None or (self.give_up_after is not None and offset > self.give_up_after):
            delivery.state = "abandoned"
            if self.give_up_after is not None:
                # Xero disables a webhook whose deliveries failed for 24 h (XW2).
                delivery.subscription.active = False
            return
        delivery.next_at = delivery.first_at + offset * self.time_scale


def xero_sender(time_scale: float = 1.0) -> WebhookSender:
    return WebhookSender(header="x-xero-signature", retries=XERO_RETRIES, then_every=None,
                         give_up_after=XERO_GIVE_UP, timeout=XERO_TIMEOUT, ordered=False,
                         time_scale=time_scale)


def quickbooks_sender(time_scale: float = 1.0) -> WebhookSender:
    return WebhookSender(header="intuit-signature", retries=QUICKBOOKS_RETRIES,
                         then_every=QUICKBOOKS_EVERY, give_up_after=None,
                         timeout=QUICKBOOKS_TIMEOUT, ordered=True, time_scale=time_scale)
