"""``core.store.links`` on SQLite and PostgreSQL: one contact per organisation and one
organisation per contact (also when two writers race), and the "create pending" markers."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from core.db import Database
from core.models import Contact
from core.store import links
from core.store.links import ContactAlreadyLinked, LinkWrite


def write(integration_id: str, organisation_id: int, contact_id: str, *, digest: str | None = "d1") -> LinkWrite:
    contact = Contact(contact_id, f"Contact {contact_id}", url=f"https://example.test/{contact_id}")
    return LinkWrite(integration_id, organisation_id, f"Org {organisation_id}", contact, digest)


@pytest.fixture
def integration_id(make_integration: Any) -> str:
    return make_integration().id


def test_save_creates_then_updates_the_organisations_link(db: Database, integration_id: str) -> None:
    first = links.save(db, write(integration_id, 1, "c-1", digest="d1"))
    again = links.save(db, write(integration_id, 1, "c-1", digest="d2"))
    stored = links.get(db, integration_id, 1)
    assert stored is not None and stored.id == first.id == again.id
    assert (stored.contact_id, stored.contact_name, stored.url, stored.fields_hash) == (
        "c-1", "Contact c-1", "https://example.test/c-1", "d2")
    assert stored.linked_at == first.linked_at
    assert stored.last_synced_at is not None and stored.last_synced_at >= first.last_synced_at


def test_save_relinks_the_organisation_to_another_contact(db: Database, integration_id: str) -> None:
    first = links.save(db, write(integration_id, 1, "c-1"))
    relinked = links.save(db, write(integration_id, 1, "c-2"))
    assert relinked.id == first.id and relinked.contact_id == "c-2"
    assert relinked.linked_at >= first.linked_at
    assert links.by_contact(db, integration_id, "c-1") is None
    assert links.contact_ids_by_organisation(db, integration_id) == {1: "c-2"}


def test_a_contact_links_to_one_organisation_only(db: Database, integration_id: str) -> None:
    links.save(db, write(integration_id, 1, "c-1"))
    with pytest.raises(ContactAlreadyLinked) as raised:
        links.save(db, write(integration_id, 2, "c-1"))
    assert raised.value.link.organisation_id == 1
    assert links.get(db, integration_id, 2) is None


def test_the_same_contact_id_in_two_integrations_is_two_links(db: Database, integration_id: str, make_integration: Any) -> None:
    other = make_integration(provider_kind="sage").id
    links.save(db, write(integration_id, 1, "c-1"))
    links.save(db, write(other, 2, "c-1"))
    assert links.by_contact(db, other, "c-1").organisation_id == 2
    assert links.by_contact(db, integration_id, "c-1").organisation_id == 1


def test_two_racing_writers_linking_one_contact_one_fails(db: Database, integration_id: str) -> None:
    # Given two syncs, of two organisations, about to link the same contact
    barrier, outcomes = threading.Barrier(2), []

    def link(organisation_id: int) -> None:
        barrier.wait()
        try:
            links.save(db, write(integration_id, organisation_id, "c-shared"))
            outcomes.append(("linked", organisation_id))
        except ContactAlreadyLinked as error:
            outcomes.append(("refused", error.link.organisation_id))
        except Exception as error:  # anything else is a failure of the test
            outcomes.append(("error", repr(error)))

    threads = [threading.Thread(target=link, args=(n,)) for n in (1, 2)]
    # When both save at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then one links and the other is told which organisation has the contact
    assert sorted(kind for kind, _ in outcomes) == ["linked", "refused"], outcomes
    winner = next(org for kind, org in outcomes if kind == "linked")
    assert next(org for kind, org in outcomes if kind == "refused") == winner
    assert links.contact_ids_by_organisation(db, integration_id) == {winner: "c-shared"}


def test_remove_all_of_and_iter_all(db: Database, integration_id: str) -> None:
    for organisation_id in (5, 3, 9, 1):
        links.save(db, write(integration_id, organisation_id, f"c-{organisation_id}"))
    assert [link.organisation_id for link in links.all_of(db, integration_id)] == [1, 3, 5, 9]
    assert [link.contact_id for link in links.all_of(db, integration_id, 3)] == ["c-3"]
    assert [link.organisation_id for link in links.iter_all(db, integration_id, batch=3)] == [1, 3, 5, 9]
    assert links.remove(db, integration_id, 3) is True
    assert links.remove(db, integration_id, 3) is False
    assert [link.organisation_id for link in links.all_of(db, integration_id)] == [1, 5, 9]
    # The contact is free again
    links.save(db, write(integration_id, 4, "c-3"))


def test_touch_updates_given_values(db: Database, integration_id: str) -> None:
    link = links.save(db, write(integration_id, 1, "c-1"))
    links.touch(db, link.id, written_link="https://example.test/c-1")
    stored = links.get(db, integration_id, 1)
    assert stored is not None and stored.written_link == "https://example.test/c-1"


def test_markers_are_put_once_and_cleared_by_the_link(db: Database, integration_id: str) -> None:
    assert links.has_marker(db, integration_id, 1) is False
    links.put_marker(db, integration_id, 1, "Org 1")
    links.put_marker(db, integration_id, 1, "Org 1")  # a retry puts it again: no error
    links.put_marker(db, integration_id, 2, "Org 2")
    assert links.has_marker(db, integration_id, 1) and links.has_marker(db, integration_id, 2)
    # When organisation 1 is linked, its marker goes; organisation 2's stays
    links.save(db, write(integration_id, 1, "c-1"))
    assert links.has_marker(db, integration_id, 1) is False
    assert links.has_marker(db, integration_id, 2) is True
    links.drop_marker(db, integration_id, 2, attempt="")  # put_marker writes no attempt
    assert links.has_marker(db, integration_id, 2) is False


def test_a_refused_link_keeps_the_marker(db: Database, integration_id: str) -> None:
    links.save(db, write(integration_id, 1, "c-1"))
    links.put_marker(db, integration_id, 2, "Org 2")
    with pytest.raises(ContactAlreadyLinked):
        links.save(db, write(integration_id, 2, "c-1"))
    assert links.has_marker(db, integration_id, 2) is True


def test_save_many_stores_each_link_in_one_go_and_answers_them_like_save(db: Database, integration_id: str) -> None:
    # Given organisation 1 linked to c-1 already, and a create marker for each organisation
    first = links.save(db, write(integration_id, 1, "c-1", digest="d1"))
    for organisation_id in (1, 2, 3):
        links.put_marker(db, integration_id, organisation_id, f"Org {organisation_id}")
    # When 1 is relinked and 2 and 3 linked in one call
    saved = links.save_many(db, [write(integration_id, 1, "c-9", digest="d9"), write(integration_id, 2, "c-2"),
                                 write(integration_id, 3, "c-3")])
    # Then each answer is its link, as save would store it, and every marker is gone
    assert [link.contact_id for link in saved] == ["c-9", "c-2", "c-3"]
    assert saved[0].id == first.id and saved[0].linked_at >= first.linked_at and saved[0].fields_hash == "d9"
    assert links.contact_ids_by_organisation(db, integration_id) == {1: "c-9", 2: "c-2", 3: "c-3"}
    assert not any(links.has_marker(db, integration_id, o) for o in (1, 2, 3))
    assert links.save_many(db, []) == []


def test_save_many_refuses_only_the_contact_linked_elsewhere(db: Database, integration_id: str) -> None:
    # Given c-1 linked to organisation 1
    links.save(db, write(integration_id, 1, "c-1"))
    links.put_marker(db, integration_id, 3, "Org 3")
    # When 2 asks for c-1 and 3 for c-3 in one call
    saved = links.save_many(db, [write(integration_id, 2, "c-1"), write(integration_id, 3, "c-3")])
    # Then 2 is refused (naming organisation 1) and 3 is linked all the same
    refused, linked = saved
    assert isinstance(refused, ContactAlreadyLinked) and refused.link.organisation_id == 1
    assert not isinstance(linked, ContactAlreadyLinked) and linked.contact_id == "c-3"
    assert links.contact_ids_by_organisation(db, integration_id) == {1: "c-1", 3: "c-3"}
    assert not links.has_marker(db, integration_id, 3)
