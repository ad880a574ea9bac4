"""The reconciliation poll never skips an organisation updated while it pages (issue 13,
finding 7). Pages come in id order, so an organisation edited mid-poll on a page already read
is not seen by this poll; the next poll must still ask from before that edit."""
from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select

from core.store import integrations
from core.tables import Event
from tests.reliability.reliability_helpers import inject
from tests.support import create_integration, edit_organisation, wait_for
from workers.reconcile import OVERLAP, reconcile

#: More organisations than one page of the client (100): the last one is on page 2.
ORGANISATIONS = 101
#: How long page 2 is held: room for two edits further apart than the poll's overlap.
PAGE_TWO_DELAY = OVERLAP.total_seconds() * 2 + 1.5


def polled_sources(rt: Any, integration_id: str) -> set[str]:
    with rt.db.reading() as session:
        return set(session.scalars(select(Event.source_event_id).where(Event.integration_id == integration_id)))


def member(sandbox: Any, subdomain: str, member_id: int) -> dict[str, Any]:
    return next(m for m in sandbox.get("current_rms", "members", subdomain=subdomain)["members"] if m["id"] == member_id)


def test_an_organisation_edited_mid_poll_on_a_page_already_read_is_caught_by_the_next_poll(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given 101 organisations changed since the integration's watermark (two pages to read)
    integration = create_integration(client, admin, sandbox, "xero")
    subdomain = integration["subdomain"]
    ids = sandbox.control("current_rms", "members/bulk", subdomain=subdomain, count=ORGANISATIONS)["ids"]
    first, last = min(ids), max(ids)
    # and page 2 held long enough for edits to happen while the poll waits for it
    inject(sandbox, "current_rms", mode="delay", delay=0.0, method="GET", path="/members$", times=1)
    inject(sandbox, "current_rms", mode="delay", delay=PAGE_TWO_DELAY, method="GET", path="/members$", times=1)

    # When the poll runs, and while it waits for page 2 the first organisation (page 1, read
    # already) is edited, then, later than the overlap, the last one (page 2, not read yet)
    stored = integrations.get(rt.db, integration["id"])
    poll = threading.Thread(target=reconcile, args=(rt, stored))
    poll.start()
    wait_for(lambda: len([c for c in sandbox.calls("current_rms") if c["path"].endswith("/members")]) >= 2,
             timeout=20, what="page 2 asked")
    edit_organisation(sandbox, subdomain, first, {"description": "edited mid-poll"})
    time.sleep(OVERLAP.total_seconds() + 0.5)
    edit_organisation(sandbox, subdomain, last, {"description": "edited later"})
    poll.join(timeout=60)
    assert not poll.is_alive()
    edited_at = member(sandbox, subdomain, first)["updated_at"]
    assert f"poll:{first}:{edited_at}" not in polled_sources(rt, integration["id"])  # not seen yet

    # Then the next poll records the first organisation's edit
    reconcile(rt, integrations.get(rt.db, integration["id"]))
    assert f"poll:{first}:{edited_at}" in polled_sources(rt, integration["id"])
