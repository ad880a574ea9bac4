"""QuickBooksProvider error handling: both fault casings, refresh on 401, throttling, 200 faults."""
from __future__ import annotations

import time
from typing import Callable

import pytest

from core.errors import ContactNotFound, CredentialsRefused, NameClash, RateLimited, Rejected, Transient
from core.models import ContactFields
from providers.quickbooks import errors
from tests.providers.quickbooks.quickbooks_provider_support import Realm


def test_an_expired_token_with_the_lowercase_401_is_refreshed_once(serve_realm: Callable[..., Realm]) -> None:
    # Given a token that expires at once
    realm = serve_realm(access_token_lifetime=0.5)
    time.sleep(0.6)
    # When
    assert realm.provider.search("x") == []
    # Then one refresh, and the retried call carried the new token
    assert realm.tokens.refreshes == 1
    last = realm.calls()[-1]
    assert last["headers"]["Authorization"] == f"Bearer {realm.tokens.access}"


def test_a_refused_refresh_is_credentials_refused(serve_realm: Callable[..., Realm]) -> None:
    realm = serve_realm(access_token_lifetime=0.1)
    realm.tokens.refresh = "AB11-revoked"
    time.sleep(0.2)
    with pytest.raises(CredentialsRefused):
        realm.provider.get_contact("1")


def test_throttling_is_rate_limited_for_sixty_seconds(serve_realm: Callable[..., Realm]) -> None:
    realm = serve_realm(rate_limit=1)
    realm.provider.search("a")
    with pytest.raises(RateLimited) as caught:
        realm.provider.search("a")
    assert caught.value.retry_after == 60.0 and caught.value.status == 429


def test_a_fault_inside_an_http_200_is_raised(realm: Realm) -> None:
    body = {"Fault": {"Error": [{"Message": "Duplicate Name Exists Error", "code": "6240",
                                 "Detail": "The name supplied already exists. : Id=9"}],
                      "type": "ValidationFault"}}
    realm.fault(path="/customer$", method="POST", status=200, body=body)
    with pytest.raises(NameClash) as caught:
        realm.provider.create_contact(ContactFields(name="Z"), idempotency_key="k")
    assert caught.value.existing_id == "9" and caught.value.existing_type is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"fault": {"error": [{"message": "m", "detail": "Token expired", "code": "3200"}],
                    "type": "AUTHENTICATION"}}, CredentialsRefused),
        ({"Fault": {"Error": [{"Message": "m", "Detail": "d", "code": "3100"}],
                    "type": "AuthorizationFault"}}, CredentialsRefused),
        ({"Fault": {"Error": [{"Message": "Stale Object Error", "code": "5010"}]}}, errors.StaleSyncToken),
        ({"Fault": {"Error": [{"Message": "Object Not Found", "code": "610"}]}}, ContactNotFound),
        ({"Fault": {"Error": [{"Message": "ThrottleExceeded", "code": "3001"}]}}, RateLimited),
        ({"Fault": {"Error": [{"Message": "Error parsing query", "code": "4000"}],
                    "type": "ValidationFault"}}, Rejected),
        ({"Fault": {"Error": [{"Message": "internal", "code": "10000"}], "type": "SystemFault"}}, Transient),
    ],
)
def test_fault_codes_map_to_error_types(body: dict, expected: type) -> None:
    error = errors.fault_error(body, status=400)
    assert type(error) is expected
    assert errors.fault_error({"QueryResponse": {}}) is None


def test_other_validation_faults_carry_the_detail_as_reason() -> None:
    body = {"Fault": {"Error": [{"Message": "String length …", "code": "2050",
                                 "Detail": "Max:30 supplied length:31", "element": "PrimaryPhone"}],
                      "type": "ValidationFault"}}
    error = errors.fault_error(body, status=400)
    assert type(error) is Rejected and "Max:30 supplied length:31" in error.reason


def test_a_stale_sync_token_that_keeps_changing_gives_up(realm: Realm) -> None:
    seeded = realm.seed(DisplayName="Busy Co")
    stale = {"Fault": {"Error": [{"Message": "Stale Object Error", "code": "5010", "Detail": "d"}],
                       "type": "ValidationFault"}}
    realm.fault(path="/customer$", method="POST", status=400, body=stale, times=10)
    with pytest.raises(errors.StaleSyncToken):
        realm.provider.update_contact(seeded["Id"], ContactFields(name="Busy Co"), idempotency_key="u")
    posts = [c for c in realm.calls() if c["method"] == "POST"]
    assert len(posts) == 4  # the first try and three re-reads
