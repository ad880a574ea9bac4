"""The QuickBooks stand-in's OAuth, 401 bodies and rate limits."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable
from urllib.parse import parse_qs, urlparse

import requests

from sandbox.runner import ServerThread
from tests.sandbox.quickbooks.quickbooks_support import TIMEOUT, Company, fault_of

CLIENT = ("client-id", "client-secret")


def _token(url: str, auth: tuple[str, str] | None = CLIENT, **form: str) -> requests.Response:
    return requests.post(f"{url}/oauth2/v1/tokens/bearer", data=form, auth=auth, timeout=TIMEOUT)


def test_consent_redirect_carries_code_state_and_realm(serve: Callable[..., ServerThread]) -> None:
    # Given
    server = serve(clients={"client-id": "client-secret"})
    # When
    consent = requests.get(
        f"{server.url}/connect/oauth2",
        params={"client_id": "client-id", "redirect_uri": "http://app.test/cb", "response_type": "code",
                "scope": "com.intuit.quickbooks.accounting", "state": "s-1"},
        allow_redirects=False, timeout=TIMEOUT,
    )
    # Then
    assert consent.status_code == 302
    target = urlparse(consent.headers["Location"])
    query = parse_qs(target.query)
    assert target.netloc == "app.test" and query["state"] == ["s-1"] and query["realmId"][0].isdigit()
    exchanged = _token(server.url, grant_type="authorization_code", code=query["code"][0],
                       redirect_uri="http://app.test/cb")
    reused = _token(server.url, grant_type="authorization_code", code=query["code"][0],
                    redirect_uri="http://app.test/cb")
    assert exchanged.status_code == 200
    assert set(exchanged.json()) >= {"access_token", "refresh_token", "expires_in", "x_refresh_token_expires_in"}
    assert exchanged.json()["expires_in"] == 3600
    assert (reused.status_code, reused.json()) == (400, {"error": "invalid_grant"})


def test_refresh_rotates_and_the_old_refresh_token_dies(serve: Callable[..., ServerThread]) -> None:
    # Given
    company = Company(serve(clients={"client-id": "client-secret"}))
    # When
    first = _token(company.url, grant_type="refresh_token", refresh_token=company.refresh_token)
    again = _token(company.url, grant_type="refresh_token", refresh_token=company.refresh_token)
    wrong_secret = _token(company.url, auth=("client-id", "nope"), grant_type="refresh_token",
                          refresh_token=first.json()["refresh_token"])
    no_basic = _token(company.url, auth=None, grant_type="refresh_token", client_id="client-id",
                      refresh_token=first.json()["refresh_token"])
    # Then
    assert first.status_code == 200 and first.json()["refresh_token"] != company.refresh_token
    assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})
    assert wrong_secret.status_code == 401 and no_basic.status_code == 401
    company.access_token = first.json()["access_token"]
    assert company.call("GET", "query", params={"query": "select * from Customer"}).status_code == 200


def test_expired_token_gets_the_lowercase_401(serve: Callable[..., ServerThread]) -> None:
    # Given a token that lives a tenth of a second
    company = Company(serve(access_token_lifetime=0.1))
    time.sleep(0.2)
    # When
    expired = company.call("GET", "customer/1")
    company.access_token = "never-issued"
    unknown = company.call("GET", "customer/1")
    # Then
    assert expired.status_code == 401
    assert expired.json()["fault"]["type"] == "AUTHENTICATION"
    assert expired.json()["fault"]["error"][0]["code"] == "3200"
    assert "Fault" not in expired.json()
    assert unknown.status_code == 401 and unknown.json()["Fault"]["Error"][0]["code"] == "3200"


def test_the_lowercase_body_can_be_turned_off(serve: Callable[..., ServerThread]) -> None:
    company = Company(serve(access_token_lifetime=0.05, lowercase_expired_fault=False))
    time.sleep(0.1)
    assert company.call("GET", "customer/1").json()["Fault"]["type"] == "AuthenticationFault"


def test_past_the_minute_limit_429_with_3001_and_no_retry_after(serve: Callable[..., ServerThread]) -> None:
    # Given a limit of three calls a minute per realm
    server = serve(rate_limit=3)
    company, neighbour = Company(server), Company(server)
    # When
    answers = [company.query("select * from Customer") for _ in range(4)]
    # Then
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert fault_of(answers[-1])["code"] == "3001"
    assert "Retry-After" not in answers[-1].headers
    assert neighbour.query("select * from Customer").status_code == 200  # counted per realm
    assert requests.get(f"{server.url}/_sandbox/stats", timeout=TIMEOUT).json()["refused_429"] == 1


def test_sequential_calls_are_not_limited_per_second(serve: Callable[..., ServerThread]) -> None:
    # Given the real limits (issue 17, gap 6: 15 sequential GETs used to get 5 x 429)
    company = Company(serve())
    # When
    answers = [company.query("select * from Customer").status_code for _ in range(15)]
    # Then
    assert answers == [200] * 15


def test_more_calls_in_flight_than_the_concurrent_limit_get_429(serve: Callable[..., ServerThread]) -> None:
    # Given two calls held in flight (an injected delay) under a limit of two
    server = serve(concurrent_limit=2)
    company = Company(server)
    fault = {"path": "/query", "mode": "delay", "delay": 1.0, "times": 2}
    requests.post(f"{server.url}/_sandbox/faults", json=fault, timeout=TIMEOUT)
    with ThreadPoolExecutor(max_workers=2) as pool:
        held = [pool.submit(company.query, "select * from Customer") for _ in range(2)]
        deadline = time.monotonic() + 5
        while _stats(server)["in_flight"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # When a third call arrives meanwhile
        third = company.query("select * from Customer")
        # Then it alone is refused, as QuickBooks refuses the eleventh concurrent call
        assert third.status_code == 429 and fault_of(third)["code"] == "3001"
        assert [f.result().status_code for f in held] == [200, 200]
    assert company.query("select * from Customer").status_code == 200
    assert _stats(server)["refused_429"] == 1


def _stats(server: ServerThread) -> dict:
    return requests.get(f"{server.url}/_sandbox/stats", timeout=TIMEOUT).json()


def test_batch_requests_have_their_own_minute_limit(serve: Callable[..., ServerThread]) -> None:
    # Given two batch requests a minute
    company = Company(serve(batch_rate_limit=2))
    request = {"BatchItemRequest": [{"bId": "b1", "operation": "create", "Customer": {"DisplayName": "N"}}]}
    # When
    batches = [company.call("POST", "batch", json=request).status_code for _ in range(3)]
    query = company.query("select * from Customer")
    # Then the third batch is refused while other calls still pass
    assert batches == [200, 200, 429]
    assert query.status_code == 200


def test_reset_forgets_companies_and_windows(serve: Callable[..., ServerThread]) -> None:
    # Given a company past its limit
    server = serve(rate_limit=1)
    company = Company(server)
    company.create({"DisplayName": "Acme"})
    assert company.query("select * from Customer").status_code == 429
    # When
    requests.post(f"{server.url}/_sandbox/reset", timeout=TIMEOUT)
    # Then
    fresh = Company(server, tenant=company.realm)
    assert fresh.query("select * from Customer").json()["QueryResponse"] == {}
    assert requests.get(f"{server.url}/_sandbox/stats", timeout=TIMEOUT).json()["refused_429"] == 0


def test_the_openid_discovery_document_names_this_stand_ins_endpoints(
        serve: Callable[..., ServerThread]) -> None:
    # Given (issue 17, gap 7: intuit-oauth reads its endpoints from this document)
    server = serve()
    # When
    documents = [requests.get(f"{server.url}/.well-known/{name}", timeout=TIMEOUT)
                 for name in ("openid_configuration/", "openid_sandbox_configuration")]
    # Then
    assert [d.status_code for d in documents] == [200, 200]
    document = documents[0].json()
    assert document["token_endpoint"] == f"{server.url}/oauth2/v1/tokens/bearer"
    assert document["authorization_endpoint"] == f"{server.url}/connect/oauth2"
    for key in ("revocation_endpoint", "issuer", "jwks_uri", "userinfo_endpoint"):
        assert document[key].startswith(server.url)


def test_revoke_cuts_the_realms_tokens(serve: Callable[..., ServerThread]) -> None:
    company = Company(serve())
    answer = requests.post(f"{company.url}/oauth2/v1/tokens/revoke", auth=CLIENT, timeout=TIMEOUT,
                           json={"token": company.refresh_token})
    assert answer.status_code == 200
    assert company.query("select * from Customer").status_code == 401
