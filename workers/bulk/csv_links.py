"""Links set from a CSV (interface §7): every row checked, valid rows applied, bad rows reported.

A row is refused for a malformed organisation id, a malformed contact id (the provider's
``valid_contact_id``: Xero a GUID, QuickBooks an integer, Sage 32 hex digits), an organisation
named twice or a contact named for two organisations (both rows, either way), a contact that
does not exist or is not active (checked in batches: ``get_contacts``, or one listing where the
system has no batch read), or a contact already linked to another organisation. An empty link
cell is skipped, never an unlink.

Links set here are stored "linked without writing" (no fields digest) and trigger no sync: the
organisation's next edit brings the contact in line. The organisation ids are not checked
against the rental system (that would be a call per row); the ``Name`` cell names the link.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from core.db import Database
from core.link_wording import already_linked_elsewhere
from core.models import Contact
from core.store import links
from core.store.links import ContactAlreadyLinked, LinkWrite
from providers import registry
from providers.base import AccountingProvider
from workers.bulk.csv_format import CsvRow

#: Rows with ids to check above which a system without batch reads is listed once instead.
LIST_INSTEAD_ABOVE = 10
#: Largest organisation id the store holds (BigInteger).
MAX_ORGANISATION_ID = 2**63 - 1


@dataclass
class CsvOutcome:
    linked: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(self, row: CsvRow, message: str) -> None:
        self.errors.append({"row": row.number, "error": message})

    def to_dict(self) -> dict[str, Any]:
        errors = sorted(self.errors, key=lambda e: e["row"])
        return {"linked": self.linked, "unchanged": self.unchanged, "skipped": self.skipped,
                "errors": errors}


@dataclass(frozen=True)
class ValidRow:
    row: CsvRow
    organisation_id: int
    contact: Contact


def check(rows: list[CsvRow], provider: AccountingProvider, db: Database,
          integration_id: str, outcome: CsvOutcome) -> list[ValidRow]:
    """The rows that may be applied; every other row gets its error on ``outcome``."""
    wanted = [r for r in rows if r.contact_id or _count_skip(outcome)]
    well_formed = [r for r in wanted if _format_ok(r, provider, outcome)]
    unique = _without_duplicates(well_formed, outcome)
    found = existing_contacts(provider, [r.contact_id for r in unique])
    valid: list[ValidRow] = []
    for row in unique:
        contact = found.get(row.contact_id)
        if contact is None:
            outcome.error(row, f"no active contact {row.contact_id} in the accounting system")
        elif _free(row, contact, db, integration_id, outcome):
            valid.append(ValidRow(row, int(row.organisation_id), contact))
    return valid


def apply(valid: Iterable[ValidRow], db: Database, integration_id: str, outcome: CsvOutcome,
          *, dry_run: bool) -> None:
    for item in valid:
        current = links.get(db, integration_id, item.organisation_id)
        if current is not None and current.contact_id == item.contact.id:
            outcome.unchanged += 1
            continue
        if not dry_run and not _save(item, current.organisation_name if current else "",
                                     db, integration_id, outcome):
            continue
        outcome.linked += 1


def existing_contacts(provider: AccountingProvider, ids: list[str]) -> dict[str, Contact]:
    """Active contacts among ``ids`` by the id asked for, in batched calls."""
    if not ids:
        return {}
    if provider.max_batch > 1 or len(ids) <= LIST_INSTEAD_ABOVE:
        return provider.get_contacts(ids)
    # No batch read (Sage): one listing of 200 a page beats one call per row.
    wanted = {i.lower(): i for i in ids}
    found: dict[str, Contact] = {}
    for contact, _fields in provider.list_contacts():
        asked = wanted.get(contact.id.lower())
        if asked is not None:
            found[asked] = contact
            if len(found) == len(wanted):
                break
    return found


def _count_skip(outcome: CsvOutcome) -> bool:
    outcome.skipped += 1
    return False


def _format_ok(row: CsvRow, provider: AccountingProvider, outcome: CsvOutcome) -> bool:
    raw = row.organisation_id
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ORGANISATION_ID:
        outcome.error(row, f"malformed organisation id {raw!r}: a positive integer is expected")
        return False
    if not provider.valid_contact_id(row.contact_id):
        outcome.error(row, f"malformed contact id {row.contact_id!r}: {ID_SHAPES.get(provider.kind, 'not an id')}")
        return False
    return True


#: What each system's contact ids look like, in words: its provider class's ``contact_id_shape``.
ID_SHAPES = registry.CONTACT_ID_SHAPES


def _without_duplicates(rows: list[CsvRow], outcome: CsvOutcome) -> list[CsvRow]:
    by_organisation: dict[int, list[CsvRow]] = defaultdict(list)
    by_contact: dict[str, list[CsvRow]] = defaultdict(list)
    for row in rows:
        by_organisation[int(row.organisation_id)].append(row)
        by_contact[row.contact_id.lower()].append(row)
    refused: set[int] = set()
    for organisation_id, named in by_organisation.items():
        _refuse_all(named, f"organisation {organisation_id} is named in rows", outcome, refused)
    for named in by_contact.values():
        _refuse_all(named, f"contact {named[0].contact_id} is named for several organisations "
                           "in rows", outcome, refused)
    return [row for row in rows if row.number not in refused]


def _refuse_all(named: list[CsvRow], message: str, outcome: CsvOutcome, refused: set[int]) -> None:
    if len(named) < 2:
        return
    numbers = ", ".join(str(r.number) for r in named)
    for row in named:
        if row.number not in refused:
            refused.add(row.number)
            outcome.error(row, f"{message} {numbers}")


def _free(row: CsvRow, contact: Contact, db: Database, integration_id: str,
          outcome: CsvOutcome) -> bool:
    other = links.by_contact(db, integration_id, contact.id)
    if other is None or other.organisation_id == int(row.organisation_id):
        return True
    outcome.error(row, already_linked_elsewhere(contact, other, int(row.organisation_id), row.name))
    return False


def _save(item: ValidRow, previous_name: str, db: Database, integration_id: str,
          outcome: CsvOutcome) -> bool:
    try:
        links.save(db, LinkWrite(
            integration_id=integration_id, organisation_id=item.organisation_id,
            organisation_name=item.row.name or previous_name, contact=item.contact,
            fields_hash=None,
        ))
    except ContactAlreadyLinked as error:  # linked meanwhile by a live sync
        outcome.error(item.row, already_linked_elsewhere(item.contact, error.link, item.organisation_id,
                                                         item.row.name or previous_name))
        return False
    return True
