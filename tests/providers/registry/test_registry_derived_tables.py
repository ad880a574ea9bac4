"""Every table keyed by provider kind is derived from ``providers.registry`` (issue 11).

A throw-away provider class is registered with one line, and found in each table the service
keeps: settings (variable prefix, default URLs), rate limits, tenant key, contact-id shape,
keep-alive period, the admin API's tenant checks, tenant discovery, and the demo's tables.
"""
from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography.fernet import Fernet
from marshmallow import ValidationError

from core.errors import ConfigError
from core.integration_settings import IntegrationSettings
from core.ratelimit import Limits, published_limits
from core.settings import Settings
from providers import registry
from providers.base import AccountingProvider, Consent, ProviderContext
from scripts import demo_payloads, dev_env
from tests.providers.registry.throwaway import KIND, LedgerProvider
from webhooks import schemas
from workers import scheduler
from workers.bulk import csv_links

ROOT = Path(__file__).resolve().parents[3]
ENV = {"ADMIN_TOKEN": "a" * 20, "ENCRYPTION_KEY": Fernet.generate_key().decode()}


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[LedgerProvider]]:
    # The one registration line a new system needs.
    monkeypatch.setitem(registry.PROVIDERS, KIND, "tests.providers.registry.throwaway:LedgerProvider")
    yield LedgerProvider


def test_settings_read_its_variables_under_its_prefix_with_its_default_urls(ledger: Any) -> None:
    settings = Settings.from_env({**ENV, "LEDGER_API_URL": "http://127.0.0.1:9/v1/",
                                  "LEDGER_CLIENT_ID": "ledger-client"})
    app = settings.providers[KIND]
    assert app.api_url == "http://127.0.0.1:9/v1"
    assert app.token_url == ledger.default_urls.token
    assert app.authorize_url == ledger.default_urls.authorize
    assert app.client_id == "ledger-client"
    assert settings.providers["xero"].api_url == "https://api.xero.com/api.xro/2.0"


def test_a_malformed_variable_of_it_stops_the_process_naming_the_variable(ledger: Any) -> None:
    with pytest.raises(ConfigError, match="LEDGER_TOKEN_URL"):
        Settings.from_env({**ENV, "LEDGER_TOKEN_URL": "ftp://nowhere"})


def test_a_provider_that_cannot_be_loaded_stops_the_process_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(registry.PROVIDERS, "gone", "tests.providers.registry.no_such_module:Gone")
    with pytest.raises(ConfigError, match="provider 'gone'"):
        Settings.from_env(ENV)


def test_limits_tenant_key_id_shape_and_keep_alive_come_from_its_class(ledger: Any) -> None:
    assert KIND in registry.kinds()
    assert published_limits(KIND) == Limits(per_minute=7, concurrent=1)
    assert registry.TENANT_KEYS[KIND] == "ledger_id"
    assert csv_links.ID_SHAPES[KIND] == ledger.contact_id_shape
    assert scheduler.KEEPALIVE_IDLE[KIND] == ledger.keepalive_idle
    assert dict(registry.TITLES)[KIND] == "Ledger Books"
    view = IntegrationSettings.from_parts(KIND, {"provider": {"ledger_id": "L-7", "tenant_id": "x"}})
    assert view.provider.tenant == "L-7"


def test_the_admin_api_checks_its_tenant_key(ledger: Any) -> None:
    schema = schemas.provider_schema()()
    assert schema.load({"kind": KIND, "ledger_id": "L-12"}) == {"kind": KIND, "ledger_id": "L-12"}
    # the wrong-tenant table both ways
    assert "ledger_id" in registry.wrong_tenant_keys("xero")
    assert set(registry.wrong_tenant_keys(KIND)) == {"tenant_id", "realm_id", "business_id"}
    with pytest.raises(ValidationError) as wrong:
        schema.load({"kind": "xero", "tenant_id": "t", "ledger_id": "L-1"})
    assert wrong.value.messages == {"ledger_id": ["not used by xero"]}
    with pytest.raises(ValidationError) as other:
        schema.load({"kind": KIND, "realm_id": "123"})
    assert other.value.messages == {"realm_id": ["not used by ledger"]}
    # its tenant_pattern
    with pytest.raises(ValidationError) as malformed:
        schema.load({"kind": KIND, "ledger_id": "12"})
    assert malformed.value.messages == {"ledger_id": ["not a Ledger Books ledger_id"]}
    # and the rate_limits keys
    created = schemas.IntegrationCreateSchema().load({
        "name": "n", "source": {"subdomain": "acme", "api_key": "k"},
        "provider": {"kind": "xero"}, "rate_limits": {KIND: {"per_minute": 5}},
    })
    assert created["rate_limits"] == {KIND: {"per_minute": 5}}


def test_an_unregistered_kind_is_refused_by_the_admin_api() -> None:
    with pytest.raises(ValidationError) as unknown:
        schemas.ProviderSchema().load({"kind": KIND})
    assert "kind" in unknown.value.messages


def test_its_tenant_discovery_reads_the_redirect(ledger: Any) -> None:
    context = ProviderContext(integration_id="i", api_url="http://127.0.0.1:9", tokens=None)  # type: ignore[arg-type]
    discovery = registry.provider_class(KIND).tenant_discovery
    assert discovery is not None
    assert discovery.tenant(Consent({"ledgerId": "L-42"}, context)) == "L-42"
    assert discovery.tenant(Consent({"ledgerId": "42; drop"}, context)) is None


def test_the_demo_tables_name_it(ledger: Any) -> None:
    assert demo_payloads.TENANT_FIELDS[KIND] == "ledger_id"
    assert demo_payloads.DISPLAY_NAMES[KIND] == "Ledger Books"
    urls = {"api_url": "http://127.0.0.1:9/v1", "token_url": "http://127.0.0.1:9/t",
            "authorize_url": "http://127.0.0.1:9/a", "base_url": "http://127.0.0.1:9"}
    sandbox = {"current_rms": {"api_url": "http://127.0.0.1:8/api/v1"}, "xero": urls, KIND: urls}
    assert demo_payloads.demo_kinds(sandbox) == ("xero", KIND)
    assert dev_env.sandbox_url_vars()[KIND] == ("LEDGER", ("api_url", "token_url", "authorize_url"))
    variables = dev_env.sandbox_variables(sandbox)
    assert variables["LEDGER_API_URL"] == "http://127.0.0.1:9/v1"
    assert variables["LEDGER_CLIENT_ID"] == dev_env.SANDBOX_CLIENT[0]
    assert "QUICKBOOKS_API_URL" not in variables  # no stand-in given for it: defaults stay
    body = demo_payloads.integration_body(
        KIND, {"subdomain": "demo", "api_key": "k"}, sandbox,
        {"access_token": "a", "refresh_token": "r", "expires_in": 60, "tenant": "L-1"}, ("c", "s"),
    )
    assert body["provider"]["ledger_id"] == "L-1"
    assert body["name"] == "Demo rentals to Ledger Books (sandbox)"


def test_every_registered_class_states_every_fact() -> None:
    # Every attribute AccountingProvider declares (ClassVar) is set on each registered class.
    facts = [name for name, hint in typing.get_type_hints(AccountingProvider).items()
             if typing.get_origin(hint) is typing.ClassVar]
    assert {"tenant_key", "env_prefix", "default_urls", "published_limits", "keepalive_idle",
            "contact_id_shape", "tenant_discovery"} <= set(facts)
    for kind in registry.kinds():
        cls = registry.provider_class(kind)
        missing = [name for name in facts if not hasattr(cls, name)]
        assert not missing, f"{cls.__name__} does not state {missing}"
        assert cls.env_prefix.isupper() and cls.env_prefix.isidentifier()
    prefixes = list(registry.ENV_PREFIXES.values())
    assert len(set(prefixes)) == len(prefixes), "two systems share an environment prefix"


#: Quoted kind strings; production code names a kind only in the registry and its own package.
KIND_STRING = re.compile(r"""["'](xero|quickbooks|sage)["']""")
PRODUCTION = ("core", "providers", "webhooks", "workers", "scripts")


def test_no_production_module_outside_a_provider_package_names_a_kind() -> None:
    found = []
    for top in PRODUCTION:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative.parts[0] == "providers" and relative.parts[1] in registry.kinds():
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if KIND_STRING.search(line) and relative != Path("providers/registry.py"):
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "kind strings outside providers/<kind>/ and the registry:\n" + "\n".join(found)
