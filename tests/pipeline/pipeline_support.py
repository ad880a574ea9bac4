"""What the pipeline suites share: organisations with their own name and account number,
people's edits on both sides, and reading contacts back from the stand-ins."""
from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable

import requests

from core.store import events as event_store
from tests.support import (
    PROVIDER_PATHS,
    edit_organisation,
    sample_member,
    seed_organisation,
    wait_for,
)

ID_KEYS = {"xero": "ContactID", "quickbooks": "Id", "sage": "id"}
NAME_KEYS = {"xero": "Name", "quickbooks": "DisplayName", "sage": "name"}
FINAL = ("succeeded", "skipped", "failed")


def new_organisation(sandbox: Any, subdomain: str, *, account_number: bool = True, **changes: Any) -> dict[str, Any]:
    """A sample organisation with a name (and account number, or none) of its own."""
    membership = {**sample_member()["membership"],
                  "number": f"A-{uuid.uuid4().hex[:8]}" if account_number else ""}
    changes.setdefault("name", f"Org {uuid.uuid4().hex[:8]}")
    return seed_organisation(sandbox, subdomain, membership=membership, **changes)


def set_email(sandbox: Any, subdomain: str, member_id: int, address: str) -> None:
    edit_organisation(sandbox, subdomain, member_id, {"emails": [
        {"address": address, "type_id": 4001, "email_type_name": "Work"}]})


def contacts(sandbox: Any, kind: str, tenant: str) -> list[dict[str, Any]]:
    answer = sandbox.get(kind, "contacts", tenant=tenant)
    return next(value for value in answer.values() if isinstance(value, list))


def contact(sandbox: Any, kind: str, tenant: str, contact_id: str) -> dict[str, Any]:
    found = [c for c in contacts(sandbox, kind, tenant) if str(c[ID_KEYS[kind]]) == str(contact_id)]
    assert len(found) == 1, (contact_id, found)
    return found[0]


def named(sandbox: Any, kind: str, tenant: str, name: str) -> list[dict[str, Any]]:
    return [c for c in contacts(sandbox, kind, tenant) if c[NAME_KEYS[kind]] == name]


def xero_hand_edit(sandbox: Any, tenant: str, contact_id: str, changes: dict[str, Any]) -> None:
    """A person edits the contact in Xero (through the API, with a token of their own)."""
    token = sandbox.control("xero", "tokens", tenant=tenant)["access_token"]
    response = requests.post(
        f"{sandbox.xero}{PROVIDER_PATHS['xero'][0]}/Contacts/{contact_id}",
        json={"Contacts": [changes]}, timeout=5,
        headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant},
    )
    response.raise_for_status()


def final(rt: Any, event_id: str, *, timeout: float = 30.0) -> Any:
    return wait_for(lambda: (e := event_store.get(rt.db, event_id)) and e.status in FINAL and e,
                    timeout=timeout, what=f"event {event_id} final")


def inject(sandbox: Any, kind: str, **fault: Any) -> None:
    """A fault at the stand-in (``sandbox.control``'s own ``path`` argument is taken)."""
    response = requests.post(f"{getattr(sandbox, kind)}/_sandbox/faults", json=fault, timeout=5)
    response.raise_for_status()


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` in a real thread; its result (or exception) lands in the list."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(target())
        except BaseException as error:  # handed to the test to re-raise
            box.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def calls_since(sandbox: Any, kind: str, since: float, method: str, path_part: str) -> list[dict[str, Any]]:
    return [c for c in sandbox.calls(kind)
            if c["at"] >= since and c["method"] == method and path_part in c["path"]]


def pause(seconds: float) -> None:
    time.sleep(seconds)
