"""What the reliability tests read back: events from the database, contacts from the sandbox."""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from sqlalchemy import select

from core.tables import Event, Link

#: Where each stand-in's contact list keeps a contact's id and name.
ID_KEYS = {"xero": "ContactID", "quickbooks": "Id", "sage": "id"}
NAME_KEYS = {"xero": "Name", "quickbooks": "DisplayName", "sage": "name"}


def contacts(sandbox: Any, kind: str, tenant: str) -> list[dict[str, Any]]:
    answer = sandbox.get(kind, "contacts", tenant=tenant)
    return next(value for value in answer.values() if isinstance(value, list))


def contact_names(sandbox: Any, kind: str, tenant: str) -> Counter[str]:
    """How many contacts carry each name (a duplicate shows as a count above one)."""
    return Counter(c[NAME_KEYS[kind]] for c in contacts(sandbox, kind, tenant))


def statuses(rt: Any, event_ids: Iterable[str]) -> dict[str, str]:
    ids = list(event_ids)
    with rt.db.session() as session:
        return dict(session.execute(select(Event.id, Event.status).where(Event.id.in_(ids))).all())


def all_in(rt: Any, event_ids: Iterable[str], *wanted: str) -> bool:
    ids = list(event_ids)
    found = statuses(rt, ids)
    return len(found) == len(ids) and all(status in wanted for status in found.values())


def events_of(rt: Any, integration_id: str) -> list[Event]:
    with rt.db.session() as session:
        return list(session.scalars(select(Event).where(Event.integration_id == integration_id)))


def links_of(rt: Any, integration_id: str) -> list[Link]:
    with rt.db.session() as session:
        return list(session.scalars(select(Link).where(Link.integration_id == integration_id)))


def writes(sandbox: Any, kind: str, path_part: str = "") -> list[dict[str, Any]]:
    """The write calls the stand-in received (optionally only paths containing ``path_part``)."""
    return [
        call for call in sandbox.calls(kind)
        if call["method"] in ("POST", "PUT") and path_part in call["path"]
    ]


def new_organisation(sandbox: Any, subdomain: str, **changes: Any) -> dict[str, Any]:
    """A sample organisation with a name and account number of its own (the sample's
    ``FOT-001`` would make every second create a clash that needs a person)."""
    import uuid

    from tests.support import sample_member, seed_organisation

    unique = uuid.uuid4().hex[:8]
    membership = {**sample_member()["membership"], "number": f"A-{unique}"}
    return seed_organisation(sandbox, subdomain, name=changes.pop("name", f"Org {unique}"),
                             membership=membership, **changes)


def inject(sandbox: Any, system: str, **fault: Any) -> None:
    """``POST /_sandbox/faults`` (sandbox.control: mode status/delay/reset/lost, path regex,
    method, times)."""
    import requests

    requests.post(f"{getattr(sandbox, system)}/_sandbox/faults", json=fault, timeout=5).raise_for_status()


def is_fetch_of(call: dict[str, Any], member_id: int | None = None) -> bool:
    """A rental-system call fetching one organisation (``GET /members/<id>``, or the filtered
    list ``GET /members?q[id_in][]=<id>`` the client uses to see deleted ones too)."""
    if call["method"] != "GET" or "/members" not in call["path"]:
        return False
    if member_id is None:
        return True
    return call["path"].endswith(f"/members/{member_id}") or call["query"].get("q[id_in][]") == str(member_id)


def fetch_times(sandbox: Any, member_id: int | None = None) -> list[float]:
    return [c["at"] for c in sandbox.calls("current_rms") if is_fetch_of(c, member_id)]
