"""The in-memory rental system: accounts, their members, webhooks, actions and delivery logs.

Thread-safe (one re-entrant lock); every read hands out a deep copy so that callers (routes,
the delivery thread, tests) never share a record with the store. Reachable as
``app.extensions["sandbox"]``.
"""
from __future__ import annotations

import copy
import dataclasses
import hmac
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.current_rms import records
from sandbox.current_rms.query import MemberQuery
from sandbox.current_rms.records import Unprocessable

#: First id of each sequence (ids are shared by all accounts, as in one real database).
FIRST_IDS = {"member": 1001, "record": 100001, "webhook": 1, "action": 98001, "log": 1}
#: The user the stand-in names as the actor of every action (``action.member_id``).
ACTING_USER_ID = 1
_WEBHOOK_FIELDS = ("name", "event", "target_url", "active")


@dataclass
class Account:
    """One Current RMS subdomain."""

    subdomain: str
    api_key: str
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    webhook_logs: list[dict[str, Any]] = field(default_factory=list)
    #: Counts changes to ``members``: a cached filter result of an older count is stale.
    version: int = 0
    #: The last ``GET /members`` filter's matching ids (in id order), with its query and version:
    #: paging through 100,000 members filtered them all once per page before (issue 18).
    matched: tuple[Any, list[int]] | None = None


class RentalState:
    """Every account of the stand-in, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[str, Account] = {}
            # Action ids start from the clock, so a restarted sandbox never repeats an id that
            # a service has already recorded (it would answer "duplicate" and do nothing).
            self._next = {**FIRST_IDS, "action": int(time.time() * 1000)}
            self._last_time = datetime.fromtimestamp(0, timezone.utc)

    # -- sequences ------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        with self.lock:
            value = self._next[kind]
            self._next[kind] = value + 1
            return value

    def now(self) -> str:
        """An ISO time in the API's format, strictly later than the previous one, so that a
        ``q[updated_at_gt]`` poll never misses two changes made in the same millisecond."""
        with self.lock:
            clock = datetime.now(timezone.utc)
            moment = clock.replace(microsecond=clock.microsecond // 1000 * 1000)
            self._last_time = max(moment, self._last_time + timedelta(milliseconds=1))
            return self._last_time.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # -- accounts -------------------------------------------------------------------------
    def put_account(self, subdomain: str, api_key: str) -> bool:
        """Create the account, or give an existing one a new key; True when created."""
        with self.lock:
            account = self.accounts.get(subdomain)
            if account is not None:
                account.api_key = api_key
                return False
            self.accounts[subdomain] = Account(subdomain, api_key)
            return True

    def authenticate(self, subdomain: str, api_key: str) -> bool:
        with self.lock:
            account = self.accounts.get(subdomain)
        return account is not None and hmac.compare_digest(
            account.api_key.encode(), api_key.encode())

    def account(self, subdomain: str) -> Account:
        """The account; ``Unprocessable`` when there is none (control routes only)."""
        account = self.accounts.get(subdomain)
        if account is None:
            raise Unprocessable([f"no account {subdomain!r}"])
        return account

    # -- members --------------------------------------------------------------------------
    def get_member(self, subdomain: str, member_id: int) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self.account(subdomain).members.get(member_id))

    def all_members(self, subdomain: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.account(subdomain).members.values()))

    def list_members(self, subdomain: str, query: MemberQuery) -> tuple[list[dict], int]:
        """One page of the matching members in id order, and how many match in all."""
        with self.lock:
            account = self.account(subdomain)
            matching = _matching_ids(account, query)
            return copy.deepcopy([account.members[i] for i in query.page_of(matching)]), len(matching)

    def create_member(self, subdomain: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """``POST /members``: ``name`` and ``membership_type`` are required (reference §2.2)."""
        if "membership_type" not in attrs:
            raise Unprocessable(["Membership type can't be blank"])
        return self.seed_member(subdomain, attrs)

    def seed_member(self, subdomain: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """Store a new member; a seed may also fix its ids, ``uuid`` and timestamps."""
        with self.lock:
            account, now = self.account(subdomain), self.now()
            member_id = int(attrs.get("id") or self.next_id("member"))
            self._next["member"] = max(self._next["member"], member_id + 1)
            given = attrs.get("membership")
            membership: dict[str, Any] = given if isinstance(given, dict) else {}
            membership_id = attrs.get("membership_id") or membership.get("id")
            member = records.blank_member(
                member_id=member_id, membership_id=int(membership_id or self.next_id("record")),
                now=now)
            records.apply_changes(member, attrs, next_id=self.next_id, now=now)
            for key in ("uuid", "created_at", "updated_at"):
                member[key] = attrs.get(key) or member[key]
            records.validate(member)
            account.members[member["id"]] = member
            account.version += 1
            return copy.deepcopy(member)

    def update_member(self, subdomain: str, member_id: int,
                      attrs: dict[str, Any]) -> dict[str, Any] | None:
        """Apply a partial update; all or nothing (a 422 leaves the member as it was)."""
        with self.lock:
            account = self.account(subdomain)
            if member_id not in account.members:
                return None
            member = copy.deepcopy(account.members[member_id])
            records.apply_changes(member, attrs, next_id=self.next_id, now=self.now())
            records.validate(member)
            account.members[member_id] = member
            account.version += 1
            return copy.deepcopy(member)

    def delete_member(self, subdomain: str, member_id: int) -> dict[str, Any] | None:
        with self.lock:
            account = self.account(subdomain)
            account.version += 1
            return account.members.pop(member_id, None)

    # -- webhooks -------------------------------------------------------------------------
    def list_webhooks(self, subdomain: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.account(subdomain).webhooks.values()))

    def get_webhook(self, subdomain: str, webhook_id: int) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self.account(subdomain).webhooks.get(webhook_id))

    def create_webhook(self, subdomain: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """Name, Event and Target URL are mandatory; Active defaults to true (reference §1.1)."""
        webhook = {"id": 0, "name": "", "event": "", "target_url": "", "active": True}
        webhook.update({k: attrs[k] for k in _WEBHOOK_FIELDS if k in attrs})
        _validate_webhook(webhook)
        with self.lock:
            webhook_id = self.next_id("webhook")
            webhook["id"] = webhook_id
            self.account(subdomain).webhooks[webhook_id] = webhook
            return dict(webhook)

    def update_webhook(self, subdomain: str, webhook_id: int,
                       attrs: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            webhooks = self.account(subdomain).webhooks
            if webhook_id not in webhooks:
                return None
            webhook = {**webhooks[webhook_id],
                       **{k: attrs[k] for k in _WEBHOOK_FIELDS if k in attrs}}
            _validate_webhook(webhook)
            webhooks[webhook_id] = webhook
            return dict(webhook)

    def delete_webhook(self, subdomain: str, webhook_id: int) -> dict[str, Any] | None:
        with self.lock:
            return self.account(subdomain).webhooks.pop(webhook_id, None)

    # -- actions and their deliveries -----------------------------------------------------
    def new_action(self, subdomain: str, member: dict[str, Any],
                   action_type: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The action body for a change to ``member`` and the active webhooks it goes to.

        Body fields follow reference §1.3 and samples/webhook_member_update.json."""
        with self.lock:
            now = self.now()
            action = {
                "id": self.next_id("action"), "subject_id": member["id"],
                "subject_type": "Member", "source_id": None, "source_type": None,
                "member_id": ACTING_USER_ID, "action_type": action_type,
                "name": member["name"],
                "description": f"{member['membership_type']} {action_type}d",
                "created_at": now, "updated_at": now,
            }
            event = f"member_{action_type}"
            targets = [dict(w) for w in self.account(subdomain).webhooks.values()
                       if w["active"] and w["event"] == event]
            return {"action": action}, targets

    def record_delivery(self, subdomain: str, webhook_id: int, response_code: int | None,
                        response: str) -> None:
        """A ``WebhookLog`` {id, webhook_id, response_code, response} (reference §1.2)."""
        with self.lock:
            self.account(subdomain).webhook_logs.append({
                "id": self.next_id("log"), "webhook_id": webhook_id,
                "response_code": response_code, "response": response[:2000],
                "created_at": self.now(),
            })

    def webhook_logs(self, subdomain: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.account(subdomain).webhook_logs)

    def stats(self) -> dict[str, int]:
        with self.lock:
            accounts = self.accounts.values()
            return {
                "accounts": len(self.accounts),
                "members": sum(len(a.members) for a in accounts),
                "webhooks": sum(len(a.webhooks) for a in accounts),
                "deliveries": sum(len(a.webhook_logs) for a in accounts),
            }


def _validate_webhook(webhook: dict[str, Any]) -> None:
    errors = [f"{key.replace('_', ' ').capitalize()} can't be blank"
              for key in ("name", "event", "target_url") if not str(webhook[key] or "").strip()]
    if webhook["target_url"] and not str(webhook["target_url"]).startswith(("http://", "https://")):
        errors.append("Target url is invalid")
    if errors:
        raise Unprocessable(errors)


def _matching_ids(account: Account, query: MemberQuery) -> list[int]:
    """The ids of the members ``query`` matches, in id order (any page of it)."""
    members = account.members
    if query.ids is not None:
        return sorted(i for i in query.ids if i in members and query.matches(members[i]))
    key = (dataclasses.replace(query, page=1, per_page=1), account.version)
    if account.matched is None or account.matched[0] != key:
        account.matched = (key, [i for i in sorted(members) if query.matches(members[i])])
    return account.matched[1]
