"""The bodies ``make run`` sends to set up its demo integrations, and the commands it prints.

Pure functions of their arguments (no HTTP), so the shapes are tested on their own. The
integration body follows interface §3; the webhook body follows the Current RMS webhook documentation; the organisation is tests/fixtures/member_organisation.json.
"""
from __future__ import annotations

import json
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from core.models import IntegrationStatus
from providers import registry

#: Where each accounting system's tenant goes in ``provider`` (interface §3).
TENANT_FIELDS = registry.TENANT_KEYS
DISPLAY_NAMES = registry.TITLES
#: The sandbox rental-system account every demo integration reads from.
DEMO_SUBDOMAIN = "demo"
SAMPLE_MEMBER_FILE = Path(__file__).with_name("demo_member.json")
#: An update of an organisation that has no link yet creates its contact, so the demo's
#: first ``member_update`` webhook shows a contact being made (interface §3 policies).
DEMO_POLICIES = {"create_contact_on_edit_if_unlinked": True}


def demo_kinds(sandbox: Mapping[str, Any]) -> tuple[str, ...]:
    """The registered accounting systems the sandbox stands in for, in registration order:
    the demo sets up one integration for each."""
    return tuple(kind for kind in registry.kinds() if kind in sandbox)


def sample_member() -> dict[str, Any]:
    member: dict[str, Any] = json.loads(SAMPLE_MEMBER_FILE.read_text())["member"]
    return member


def expires_at(expires_in: int | float, now: datetime | None = None) -> str:
    moment = (now or datetime.now(timezone.utc)) + timedelta(seconds=float(expires_in))
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def provider_tokens(kind: str, issued: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The token part of ``provider``, from a stand-in's ``/_sandbox/tokens`` answer."""
    return {
        TENANT_FIELDS[kind]: issued["tenant"],
        "access_token": issued["access_token"],
        "refresh_token": issued["refresh_token"],
        "expires_at": expires_at(issued["expires_in"], now),
    }


def source_body(rental: Mapping[str, Any], rental_api_url: str) -> dict[str, Any]:
    return {"subdomain": rental["subdomain"], "api_key": rental["api_key"], "api_url": rental_api_url}


def provider_body(
    kind: str, issued: Mapping[str, Any], urls: Mapping[str, str], client: tuple[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    client_id, client_secret = client
    return {
        "kind": kind,
        "client_id": client_id,
        "client_secret": client_secret,
        "api_url": urls["api_url"],
        "token_url": urls["token_url"],
        **provider_tokens(kind, issued, now),
    }


def integration_body(
    kind: str, rental: Mapping[str, Any], sandbox: Mapping[str, Mapping[str, str]],
    issued: Mapping[str, Any], client: tuple[str, str], now: datetime | None = None,
) -> dict[str, Any]:
    """``POST /api/integrations`` for the demo integration of ``kind`` (interface §3)."""
    return {
        "name": f"Demo rentals to {DISPLAY_NAMES[kind]} (sandbox)",
        "source": source_body(rental, sandbox["current_rms"]["api_url"]),
        "provider": provider_body(kind, issued, sandbox[kind], client, now),
        "policies": dict(DEMO_POLICIES),
    }


def refresh_body(
    kind: str, rental: Mapping[str, Any], sandbox: Mapping[str, Mapping[str, str]],
    issued: Mapping[str, Any], client: tuple[str, str], *, reactivate: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``PATCH /api/integrations/<id>`` after the sandbox restarted empty: new keys and tokens."""
    body: dict[str, Any] = {
        "source": source_body(rental, sandbox["current_rms"]["api_url"]),
        "provider": provider_body(kind, issued, sandbox[kind], client, now),
    }
    if reactivate:
        body["status"] = IntegrationStatus.ACTIVE
    return body


def webhook_body(member_id: int, action_id: int, name: str) -> dict[str, Any]:
    """A ``member_update`` action, shaped like the Current RMS webhook documentation."""
    return {
        "action": {
            "id": action_id,
            "subject_id": member_id,
            "subject_type": "Member",
            "action_type": "update",
            "name": name,
            "description": "Organisation updated",
        }
    }


def webhook_curl(webhook_url: str, body: Mapping[str, Any]) -> str:
    return (f"curl -sS -X POST {shlex.quote(webhook_url)} "
            f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}")


def events_curl(service_url: str, admin_token: str) -> str:
    header = shlex.quote(f"Authorization: Bearer {admin_token}")
    return f"curl -sS -H {header} {shlex.quote(service_url + '/api/events')}"
