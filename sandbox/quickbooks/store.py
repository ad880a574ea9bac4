"""The stand-in's companies (realms) and their name lists, in memory and thread-safe.

Customer, Vendor and Employee share one name list per realm: one increasing Id sequence (the web
app's ``nameId``) and one DisplayName uniqueness rule, active or not (providers.md §B2, §B3, §D).
"""
from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.quickbooks import customers, faults, query

#: Realm ids look like 9130 3545 …: sixteen digits.
FIRST_REALM_ID = 9130354500000001


#: The sample company's payment terms (Intuit's sandbox company has these four).
DEFAULT_TERMS = (("1", "Due on receipt", 0), ("2", "Net 15", 15), ("3", "Net 30", 30),
                 ("4", "Net 60", 60))
#: The company's home currency, and the other currencies turned on (multicurrency is on in the
#: stand-in's companies unless a test turns it off, ``POST /_sandbox/preferences``: then only the
#: home currency exists, and a foreign ``CurrencyRef`` is refused).
HOME_CURRENCY = ("USD", "United States Dollar")
#: The names of the home currencies a test may choose (``POST /_sandbox/preferences``).
HOME_CURRENCIES = {"USD": "United States Dollar", "GBP": "British Pound Sterling",
                   "CAD": "Canadian Dollar", "AUD": "Australian Dollar", "EUR": "Euro"}
COMPANY_CURRENCIES = (("GBP", "British Pound Sterling"), ("EUR", "Euro"),
                      ("CAD", "Canadian Dollar"))
#: Change data capture looks back at most 30 days (QC1).
CDC_WINDOW_DAYS = 30
#: "The maximum number of entities that can be returned in a response is 1000" (QC1).
CDC_MAX_OBJECTS = 1000


def _terms() -> list[dict[str, Any]]:
    stamp = faults.now_stamp()
    return [{"Name": name, "Active": True, "Type": "STANDARD", "DueDays": days, "DiscountDays": 0,
             "domain": "QBO", "sparse": False, "Id": term_id, "SyncToken": "0",
             "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}}
            for term_id, name, days in DEFAULT_TERMS]


def _currencies() -> list[dict[str, Any]]:
    stamp = faults.now_stamp()
    return [{"Code": code, "Name": name, "Active": True, "domain": "QBO", "sparse": False,
             "Id": str(number), "SyncToken": "0",
             "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}}
            for number, (code, name) in enumerate(COMPANY_CURRENCIES, start=1)]


@dataclass
class Realm:
    id: str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Id -> ``{"Id", "_type", "LastUpdatedTime"}`` of records deleted or merged away.
    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)
    terms: list[dict[str, Any]] = field(default_factory=_terms)
    currencies: list[dict[str, Any]] = field(default_factory=_currencies)
    #: ``Preferences.CurrencyPrefs``: the home currency (code, name) and whether multicurrency is on.
    home_currency: tuple[str, str] = HOME_CURRENCY
    multicurrency: bool = True
    #: requestid -> (status, body): the original answer, replayed for a repeat (§B1).
    replays: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _address_ids: Any = field(default_factory=lambda: itertools.count(100))

    def next_id(self) -> str:
        return str(next(self._ids))

    def next_address_id(self) -> str:
        return str(next(self._address_ids))

    def of_type(self, entity: str) -> list[dict[str, Any]]:
        if entity == "Term":
            return self.terms
        if entity == "CompanyCurrency":
            # A company without multicurrency has no other currency (CompanyCurrency applies
            # "only for those companies that enable multicurrency"); its answer then is an
            # empty QueryResponse here (the real answer is unconfirmed).
            return self.currencies if self.multicurrency else []
        if entity == "Preferences":
            return [self.preferences()]
        return [r for r in self.records.values() if r["_type"] == entity]

    def preferences(self) -> dict[str, Any]:
        """The company's one Preferences object, the part a client reads of it: CurrencyPrefs."""
        code, name = self.home_currency
        return {"CurrencyPrefs": {"MultiCurrencyEnabled": self.multicurrency,
                                  "HomeCurrency": {"value": code, "name": name}},
                "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "0"}

    def reference_name(self, field_name: str, value: str) -> str | None:
        """The name a ``CurrencyRef``/``SalesTermRef`` value stands for; ``None``: unknown."""
        if field_name == "CurrencyRef":
            if value == self.home_currency[0]:
                return self.home_currency[1]
            if not self.multicurrency:
                return None
            return next((c["Name"] for c in self.currencies if c["Code"] == value and c["Active"]), None)
        return next((t["Name"] for t in self.terms if t["Id"] == value and t["Active"]), None)


class Store:
    """Every realm of one stand-in. One re-entrant lock serialises writes (and batch items)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.realms: dict[str, Realm] = {}
        self.minorversions: Counter[str] = Counter()
        self._realm_ids = itertools.count(FIRST_REALM_ID)
        #: How far this company's clock is moved from the real one (``POST /_sandbox/clock``):
        #: a change made "40 days ago" is stamped so, and Change Data Capture's 30 days count
        #: from this clock.
        self.shift = timedelta(0)
        #: Changes stamped to the second, as Intuit's samples show them (``POST /_sandbox/clock``).
        self.to_the_second = False

    def reset(self) -> None:
        with self.lock:
            self.realms.clear()
            self.minorversions.clear()
            self.shift = timedelta(0)
            self.to_the_second = False

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def stamp(self) -> str:
        """A ``MetaData`` time on this store's clock."""
        return faults.now_stamp(self.shift, to_the_second=self.to_the_second)

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
            body = _named_references(realm, body)
            stamp = self.stamp()
            record: dict[str, Any] = {"Id": realm.next_id(), "SyncToken": "0", "Active": True,
                                      "_type": entity}
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
        body = _named_references(realm, body)
        customers.apply(record, body, sparse=sparse, next_id=realm.next_address_id)
        record["SyncToken"] = str(int(record["SyncToken"]) + 1)
        record["MetaData"]["LastUpdatedTime"] = self.stamp()

    def _check_unique(self, realm: Realm, name: str, *, exclude: str | None) -> None:
        # Across Customer, Vendor and Employee, active or not (§B2, §B3; teachworks KB).
        wanted = name.strip().casefold()
        for record in realm.records.values():
            if record["Id"] != exclude and record["DisplayName"].strip().casefold() == wanted:
                raise faults.duplicate_name(record["Id"])

    def delete(self, realm_id: str, record_id: str) -> dict[str, Any]:
        """A record removed by a person in the web app (``Delete`` in webhooks, ``status:
        Deleted`` in CDC); reads of it then answer 610."""
        with self.lock:
            realm = self.realm(realm_id)
            record = self._record(realm, record_id, None)
            del realm.records[record_id]
            stamp = self.stamp()
            realm.deleted[record_id] = {"Id": record_id, "_type": record["_type"],
                                        "LastUpdatedTime": stamp}
            return {**_public(record), "deleted_at": stamp}

    def merge(self, realm_id: str, loser_id: str, survivor_id: str) -> dict[str, Any]:
        """Merge ``loser`` into ``survivor`` as the web app does (renaming one to the other's
        name): the loser is gone, the survivor is updated; webhooks report a ``Merge`` with
        ``deletedId`` (QW2). Both must be customers."""
        with self.lock:
            realm = self.realm(realm_id)
            survivor = self._record(realm, survivor_id, "Customer")
            self._record(realm, loser_id, "Customer")
            if loser_id == survivor_id:
                raise faults.business_rule("Id", "A customer cannot be merged into itself.")
            self.delete(realm_id, loser_id)
            survivor["SyncToken"] = str(int(survivor["SyncToken"]) + 1)
            survivor["MetaData"]["LastUpdatedTime"] = self.stamp()
            return customers.render(_public(survivor))

    def changed_since(self, realm_id: str, entities: list[str], since: datetime) -> dict[str, Any]:
        """``GET …/cdc``: per entity, the records changed at or after ``since`` (newest last),
        and the deleted ones as ``{"domain", "status": "Deleted", "Id", "MetaData"}`` (QC1)."""
        answers = []
        with self.lock:
            realm = self.realm(realm_id)
            for entity in entities:
                live = [(r["MetaData"]["LastUpdatedTime"], customers.render(_public(r)))
                        for r in realm.of_type(entity) if _at(r["MetaData"]["LastUpdatedTime"]) >= since]
                gone = [(d["LastUpdatedTime"], {"domain": "QBO", "status": "Deleted", "Id": d["Id"],
                                                "MetaData": {"LastUpdatedTime": d["LastUpdatedTime"]}})
                        for d in realm.deleted.values()
                        if d["_type"] == entity and _at(d["LastUpdatedTime"]) >= since]
                rows = [row for _, row in sorted(live + gone, key=lambda pair: _at(pair[0]))]
                rows = rows[:CDC_MAX_OBJECTS]
                found: dict[str, Any] = {"startPosition": 1, "maxResults": len(rows),
                                         "totalCount": len(rows)}
                if rows:
                    found[entity] = rows
                answers.append(found)
        return {"CDCResponse": [{"QueryResponse": answers}]}

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
        shown = found if parsed.entity in query.LOOKUPS else [customers.render(r) for r in found]
        return {
            parsed.entity: shown,
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


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _named_references(realm: Realm, body: dict[str, Any]) -> dict[str, Any]:
    """``CurrencyRef``/``SalesTermRef`` checked against the realm, their ``name`` filled in as
    QuickBooks answers it. An unknown value: Fault 2500 "Invalid Reference Id" (the code is
    Intuit's; the Detail wording is unconfirmed)."""
    named = dict(body)
    for field_name in customers.REFERENCES:
        given = body.get(field_name)
        if not isinstance(given, dict) or customers.is_empty(given):
            continue
        value = str(given.get("value") or "")
        name = realm.reference_name(field_name, value)
        if name is None:
            raise faults.FaultError(
                "2500", "Invalid Reference Id",
                f"Invalid Reference Id : {field_name} {value!r} does not exist or is inactive",
                element=field_name)
        named[field_name] = {"value": value, "name": name}
    return named


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}
