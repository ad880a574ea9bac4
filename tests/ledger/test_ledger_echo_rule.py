"""``is_echo``: when a reported change is known, without a call, to be our own last write."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from core.ledger import is_echo
from providers import stamps

WRITTEN = datetime(2026, 12, 5, 15, 16, 1, 76000, tzinfo=timezone.utc)


def echo(**changes: Any) -> bool:
    values: dict[str, Any] = dict(via="webhook", operation="update", merged_into=None, changed_at=WRITTEN,
                                  link_status="ok", last_written_stamp=WRITTEN)
    values.update(changes)
    return is_echo(**values)


def test_the_stamp_of_our_write_is_the_echo_from_a_webhook_or_the_poll() -> None:
    assert echo() and echo(via="poll") and echo(operation="create")


@pytest.mark.parametrize("changes", [
    {"changed_at": WRITTEN + timedelta(milliseconds=1)},  # any later edit moves the stamp on
    {"last_written_stamp": None},                         # a link made without a write
    {"changed_at": None},
    {"operation": "archive"}, {"operation": "delete"}, {"operation": "merge"},
    {"merged_into": "other"},
    {"via": "verify"}, {"via": "ops"},                    # our clock, or an operator's action
    {"link_status": "broken"},
])
def test_anything_else_is_read(changes: dict[str, Any]) -> None:
    assert not echo(**changes)


def test_a_stamp_to_the_second_is_trusted_only_from_a_webhook_while_the_poll_runs() -> None:
    # Sage's updated_at, QuickBooks' documented LastUpdatedTime: a hand edit within the same
    # second would carry the same stamp as our write; the poll, which compares the fields, is
    # what catches it then
    second = WRITTEN.replace(microsecond=0)
    assert not echo(changed_at=second, last_written_stamp=second)
    assert echo(changed_at=second, last_written_stamp=second, poll_backstop=True)
    # A change the poll recorded is one it could not call an echo: read it
    assert not echo(changed_at=second, last_written_stamp=second, poll_backstop=True, via="poll")


def test_each_systems_stamps_parse_to_the_same_moment() -> None:
    # Xero's UpdatedDateUTC in a write's answer and eventDateUtc in its webhook
    assert stamps.msdate("/Date(1796483761076+0000)/") == stamps.iso("2026-12-05T15:16:01.076")
    # QuickBooks' MetaData.LastUpdatedTime and a notification's lastUpdated, in two zones
    assert stamps.iso("2026-12-05T08:16:01.076-07:00") == stamps.iso("2026-12-05T15:16:01.076Z")
    assert stamps.iso("2015-10-05T14:42:19-0700") == datetime(2015, 10, 5, 21, 42, 19, tzinfo=timezone.utc)
    assert stamps.iso("not a time") is None and stamps.msdate("") is None
