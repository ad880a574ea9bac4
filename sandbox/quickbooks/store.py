"""The stand-in's companies (realms) and their name lists, in memory and thread-safe.

Customer, Vendor and Employee share one name list per realm: one increasing Id sequence (the web
app's ``nameId``) and one DisplayName uniqueness rule, active or not (providers.md §B2, §B3, §D).
"""
from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sandbox.quickbooks import customers, faults, query

#: Realm ids look like 9130 3545 …: sixteen digits.
FIRST_REALM_ID = 9130354500000001


@dataclass
class Realm:
    id: str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: requestid -> (status, body): the original answer, replayed for a repeat (§B1).
    replays: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _address_ids: Any = field(default_factory=lambda: itertools.count(100))

    def next_id(self) -> str:
        return str(next(self._ids))

    def next_address_id(self) -> str:
        return str(next(self._address_ids))

    def of_type(self, entity: str) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["_type"] == entity]


class Store:
    """Every realm of one stand-in. One re-entrant lock serialises writes (and batch items)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.realms: dict[str, Realm] = {}
        self.minorversions: Counter[str] = Counter()
        self._realm_ids = itertools.count(FIRST_REALM_ID)

    def reset(self) -> None:
        with self.lock:
            self.realms.clear()
            self.minorversions.clear()

    def realm(self, realm_id: str | None = None) -> Realm:
        """The realm, made when it does not exist yet (a new id when none is given)."""
        with self.lock:
            realm_id = realm_id or str(next(self._realm_ids))
            if realm_id not in self.realms:
                self.realms[realm_id] = Realm(realm_id)
            return self.realms[realm_id]

    # -- writes -------------------------------------------------------------------------
    def write_customer(self, realm_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST …/customer: a create, or with ``Id`` a full or sparse update (§B1)."""
        if body.get("Id") not in (None, ""):
            return self.update(realm_id, body, entity="Customer")
        return self.create(realm_id, body, entity="Customer")

    def create(self, realm_id: str, body: dict[str, Any], *, entity: str) -> dict[str, Any]:
        customers.validate(body)
        with self.lock:
            realm = self.realm(realm_id)
            name = customers.display_name(body)
            if not name:
                raise faults.required("DisplayName")
            self._check_unique(realm, name, exclude=None)
            stamp = faults.now_stamp()
            record = {"Id": realm.next_id(), "SyncToken": "0", "Active": True, "_type": entity}
            customers.apply(record, body, sparse=True, next_id=realm.next_address_id)
            record["DisplayName"] = name
            record["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}
            realm.records[record["Id"]] = record
            return customers.render(_public(record))

    def update(self, realm_id: str, body: dict[str, Any], *, entity: str) -> dict[str, Any]:
        customers.validate(body)
        if body.get("Id") in (None, ""):
            raise faults.required("Id")
        with self.lock:
            realm = self.realm(realm_id)
            record = self._record(realm, str(body["Id"]), entity)
            if body.get("SyncToken") in (None, ""):
                raise faults.required("SyncToken")
            if str(body["SyncToken"]) != record["SyncToken"]:
                raise faults.stale_object()
            self._apply_update(realm, record, body, sparse=bool(body.get("sparse")))
            return customers.render(_public(record))

    def edit(self, realm_id: str, record_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A change made by someone else in the web app: sparse, and it moves the SyncToken."""
        customers.validate(changes)
        with self.lock:
            realm = self.realm(realm_id)
            record = self._record(realm, record_id, None)
            self._apply_update(realm, record, changes, sparse=True)
            return customers.render(_public(record))

    def _apply_update(
        self, realm: Realm, record: dict[str, Any], body: dict[str, Any], *, sparse: bool
    ) -> None:
        if "DisplayName" in body or not sparse:
            # "Cannot be removed with sparse update" (§B2); a full update must carry a name too.
            name = customers.display_name(body)
            if not name:
                raise faults.required("DisplayName")
            self._check_unique(realm, name, exclude=record["Id"])
            body = {**body, "DisplayName": name}
        customers.apply(record, body, sparse=sparse, next_id=realm.next_address_id)
        record["SyncToken"] = str(int(record["SyncToken"]) + 1)
        record["MetaData"]["LastUpdatedTime"] = faults.now_stamp()

    def _check_unique(self, realm: Realm, name: str, *, exclude: str | None) -> None:
        # Across Customer, Vendor and Employee, active or not (§B2, §B3; teachworks KB).
        wanted = name.strip().casefold()
        for record in realm.records.values():
            if record["Id"] != exclude and record["DisplayName"].strip().casefold() == wanted:
                raise faults.duplicate_name(record["Id"])

    # -- reads --------------------------------------------------------------------------
    def read(self, realm_id: str, entity: str, record_id: str) -> dict[str, Any]:
        """GET …/{entity}/{Id}: inactive records too (a read is not a query)."""
        with self.lock:
            record = self._record(self.realm(realm_id), record_id, entity)
            return customers.render(_public(record))

    def query(self, realm_id: str, text: str) -> dict[str, Any]:
        parsed = query.parse(text)
        with self.lock:
            rows = [_public(r) for r in self.realm(realm_id).of_type(parsed.entity)]
        selected = query.run(parsed, rows)
        if parsed.count:
            return {"totalCount": len(selected)}
        found = query.page(parsed, selected)
        if not found:
            return {}  # an empty result is an empty QueryResponse (§B1)
        return {
            parsed.entity: [customers.render(r) for r in found],
            "startPosition": parsed.start, "maxResults": len(found),
        }

    def everything(self, realm_id: str, entity: str = "Customer") -> list[dict[str, Any]]:
        with self.lock:
            return [customers.render(_public(r)) for r in self.realm(realm_id).of_type(entity)]

    def raw(self, realm_id: str, record_id: str) -> dict[str, Any]:
        """The stored record, unmasked (for in-process assertions)."""
        with self.lock:
            return _public(self._record(self.realm(realm_id), record_id, None))

    def count(self, entity: str = "Customer") -> int:
        with self.lock:
            return sum(len(realm.of_type(entity)) for realm in self.realms.values())

    def _record(self, realm: Realm, record_id: str, entity: str | None) -> dict[str, Any]:
        record = realm.records.get(record_id)
        if record is None or (entity is not None and record["_type"] != entity):
            raise faults.not_found()
        return record


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}
