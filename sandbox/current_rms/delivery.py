"""Webhook deliveries: the action JSON POSTed to each target URL from a background thread.

the Current RMS API documentation §1.3: "a POST request will be made to that URL. The body of the
request will consist of a JSON representation of the action". Headers are undocumented; the
stand-in sends ``Content-Type: application/json`` and no signature (none is known, §1.3).
Retries are undocumented too, so none is made: each delivery is tried once and its response
code recorded in the account's ``webhook_logs`` (``None`` when the target did not answer).
"""
from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import requests

from sandbox.current_rms.state import RentalState

#: Seconds a target has to answer before the delivery is logged as failed.
DEFAULT_WEBHOOK_TIMEOUT = 5.0


class WebhookDeliverer:
    """One daemon thread that sends queued deliveries in order, started on first use."""

    def __init__(self, state: RentalState, *, enabled: bool = True,
                 timeout: float = DEFAULT_WEBHOOK_TIMEOUT) -> None:
        self.state = state
        #: Whether changes made through the API and the web UI are delivered by themselves.
        self.enabled = enabled
        self.timeout = timeout
        self._queue: queue.Queue[tuple[str, dict[str, Any], dict[str, Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def send(self, subdomain: str, body: dict[str, Any], targets: list[dict[str, Any]]) -> None:
        """Queue ``body`` for every webhook in ``targets``; returns at once."""
        for webhook in targets:
            self._queue.put((subdomain, webhook, body))
        if targets:
            self._ensure_thread()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued delivery is done (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="current-rms-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            subdomain, webhook, body = self._queue.get()
            try:
                self._deliver(subdomain, webhook, body)
            finally:
                self._queue.task_done()

    def _deliver(self, subdomain: str, webhook: dict[str, Any], body: dict[str, Any]) -> None:
        try:
            response = requests.post(
                webhook["target_url"], data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"}, timeout=self.timeout)
            code, text = response.status_code, response.text
        except requests.RequestException as error:
            code, text = None, f"{type(error).__name__}: {error}"
        try:
            self.state.record_delivery(subdomain, webhook["id"], code, text)
        except ValueError:  # the account was reset meanwhile: nothing to record it on
            pass

    def fire(self, subdomain: str, member: dict[str, Any], action_type: str,
             *, deliver: bool | None = None) -> dict[str, Any]:
        """Record the action for a change to ``member`` and queue its deliveries to the
        account's active webhooks for ``member_<action_type>`` (``deliver`` defaults to
        ``enabled``; an explicit re-fire passes True)."""
        body, targets = self.state.new_action(subdomain, member, action_type)
        if self.enabled if deliver is None else deliver:
            self.send(subdomain, body, targets)
        return body
