"""Bulk import: every active contact becomes, or updates, a linked organisation.

The article's rule (reference current_rms.md §3, "Import contacts"): "A new organization is
created in Current for each active Xero contact that's not already linked to an organization
in Current RMS. Organizations … already linked … are updated with information in Xero."

No echo. The rental system answers each write with a ``member_create`` / ``member_update``
webhook. The organisation's lock is held from the moment the write returns until the link and
the digest of the organisation's fields *as the rental system answered them* are committed, so
the webhook's sync (which waits for the lock) finds the link and an unchanged digest and makes
no call: no second contact, no write back.

Resuming. ``state.position`` counts the contacts already handled in listing order, and
``state.pending`` names the contact whose organisation was being created: after a killed run
that organisation is looked up by name and adopted instead of created again.
"""
from __future__ import annotations

from typing import Any

from core.decision import LinkedElsewhere, already_linked
from core.errors import LockBusy, Rejected
from core.models import Contact, ContactFields, Organisation
from core.store import links
from core.store.jobs import Progress
from core.store.links import ContactAlreadyLinked, LinkWrite
from core.tables import Link
from workers.bulk import organisations
from workers.bulk.run import BulkRun


class Importer:
    def __init__(self, run: BulkRun) -> None:
        self.run = run
        self.db = run.rt.db
        self.integration_id = run.integration.id
        state = run.job.state or {}
        self.position = int(state.get("position", 0))
        self.pending: dict[str, Any] | None = state.get("pending")
        self.failed_before = {
            e["contact_id"] for e in run.job.errors or [] if isinstance(e, dict) and "contact_id" in e
        }
        self.run.summary.update(state.get("summary") or {})

    def import_all(self) -> None:
        for index, (contact, fields) in enumerate(self.run.provider.list_contacts()):
            if index < self.position and self._handled_before(contact):
                continue
            progress = Progress(state={"position": index + 1, "pending": None},
                                total=max(index + 1, self.run.job.total or 0))
            self._import_one(contact, fields, progress)
            self.run.record(progress)
            self.run.job.total = progress.total or 0

    def _handled_before(self, contact: Contact) -> bool:
        """Counted by an earlier run (linked or failed); anything else is done now."""
        linked = links.by_contact(self.db, self.integration_id, contact.id) is not None
        return linked or contact.id in self.failed_before

    def _import_one(self, contact: Contact, fields: ContactFields, progress: Progress) -> None:
        try:
            link = links.by_contact(self.db, self.integration_id, contact.id)
            if link is not None:
                outcome = self._update(link, contact, fields)
            else:
                outcome = self._create(contact, fields)
        except (Rejected, LockBusy) as error:
            progress.failed += 1
            progress.errors.append({"contact_id": contact.id, "name": contact.name,
                                    "error": error.reason})
            self.run.count("failed")
            return
        progress.done += 1
        self.run.count(outcome)

    # -- linked: the organisation is updated from its contact ------------------------------
    def _update(self, link: Link, contact: Contact, fields: ContactFields) -> str:
        with self.run.organisation_lock(link.organisation_id):
            organisation = self.run.source.get_organisation(link.organisation_id)
            if organisation is None:
                raise Rejected(reason=f"the linked organisation {link.organisation_id} "
                                      "no longer exists in Current RMS")
            if organisation.fields == fields:
                self._store(organisation, contact)
                return "unchanged"
            updated = self.run.source.update_organisation(organisation.id, fields=fields)
            self._store(updated, contact)
        return "updated"

    # -- unlinked: a new organisation, linked before its webhook can look ------------------
    def _create(self, contact: Contact, fields: ContactFields) -> str:
        adopted = self._adopt(contact)
        if adopted is not None:
            with self.run.organisation_lock(adopted.id):
                self._store(adopted, contact)
            return "adopted"
        # Recorded before the call: a run killed after it adopts instead of creating again.
        self.run.record(Progress(state={"pending": {"contact_id": contact.id,
                                                    "name": fields.name}}))
        organisation = self.run.source.create_organisation(fields)
        with self.run.organisation_lock(organisation.id):
            self._store(organisation, contact)
        return "created"

    def _adopt(self, contact: Contact) -> Organisation | None:
        """After a killed run: the organisation it created for this contact, if any."""
        if not self.pending or self.pending.get("contact_id") != contact.id:
            return None
        name, self.pending = str(self.pending.get("name") or contact.name), None
        for candidate in organisations.named(self.run.source, name):
            if links.get(self.db, self.integration_id, candidate.id) is None:
                return candidate
        return None

    def _store(self, organisation: Organisation, contact: Contact) -> None:
        try:
            links.save(self.db, LinkWrite(
                integration_id=self.integration_id, organisation_id=organisation.id,
                organisation_name=organisation.name, contact=contact,
                fields_hash=organisation.fields.digest(), fields=organisation.fields,
            ))
        except ContactAlreadyLinked as error:
            other = LinkedElsewhere(error.link.organisation_id, error.link.organisation_name)
            raise Rejected(reason=already_linked(contact, other, organisation)) from None


def run_import(run: BulkRun) -> None:
    Importer(run).import_all()
