"""QuickBooksProvider batch creates: per-element results, and halving past the server's cap."""
from __future__ import annotations

import json
from typing import Callable

from core.errors import NameClash, RateLimited, Rejected
from core.models import ContactFields
from tests.providers.quickbooks.quickbooks_provider_support import Realm


def test_a_failing_element_does_not_stop_the_others(realm: Realm) -> None:
    # Given a vendor holding one of the names
    vendor = realm.seed("Vendor", DisplayName="Taken Ltd")
    batch = [(ContactFields(name=n), f"org-{i}") for i, n in enumerate(
        ["First Co", "Taken Ltd", "Bad: Name", "Last Co"])]
    # When
    results = realm.provider.create_contacts(batch)
    # Then one batch request, one result per element, in order
    assert [r.contact.name if r.contact else None for r in results] == ["First Co", None, None, "Last Co"]
    assert isinstance(results[1].error, NameClash)
    assert (results[1].error.existing_id, results[1].error.existing_type) == (vendor["Id"], "Vendor")
    assert isinstance(results[2].error, Rejected) and "colon" in results[2].error.reason
    batches = [c for c in realm.calls() if c["path"].endswith("/batch")]
    assert len(batches) == 1
    sent = json.loads(batches[0]["body"])["BatchItemRequest"]
    assert [item["Customer"]["DisplayName"] for item in sent] == ["First Co", "Taken Ltd", "Last Co"]
    assert len(batches[0]["query"]["requestid"]) == 50
    assert results[0].contact.url.endswith(f"nameId={results[0].contact.id}")


def test_more_than_thirty_go_in_several_requests(realm: Realm) -> None:
    batch = [(ContactFields(name=f"Customer {i}"), f"org-{i}") for i in range(31)]
    results = realm.provider.create_contacts(batch)
    assert all(r.contact is not None for r in results)
    sizes = [len(json.loads(c["body"])["BatchItemRequest"]) for c in realm.calls() if c["path"].endswith("/batch")]
    assert sizes == [30, 1]


def test_a_size_refusal_halves_the_chunk(serve_realm: Callable[..., Realm]) -> None:
    # Given a server whose cap is four items
    realm = serve_realm(max_batch_items=4)
    batch = [(ContactFields(name=f"Customer {i}"), f"org-{i}") for i in range(10)]
    # When
    results = realm.provider.create_contacts(batch)
    # Then every element is created, in order, through smaller requests
    assert [r.contact.name for r in results] == [f"Customer {i}" for i in range(10)]
    sizes = [len(json.loads(c["body"])["BatchItemRequest"]) for c in realm.calls() if c["path"].endswith("/batch")]
    assert sizes == [10, 5, 2, 3, 5, 2, 3]  # refused at 10 and 5, accepted at 2 and 3
    assert len(realm.customers()) == 10


def test_throttling_mid_way_keeps_what_was_created(serve_realm: Callable[..., Realm]) -> None:
    # Given a server that takes one batch request a minute
    realm = serve_realm(batch_rate_limit=1)
    batch = [(ContactFields(name=f"Customer {i}"), f"org-{i}") for i in range(32)]
    # When
    results = realm.provider.create_contacts(batch)
    # Then the first thirty are reported created, the other two carry the throttle
    assert all(r.contact is not None for r in results[:30])
    assert all(isinstance(r.error, RateLimited) and r.error.retry_after == 60 for r in results[30:])
    assert len(realm.customers()) == 30
