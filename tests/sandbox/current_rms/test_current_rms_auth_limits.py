"""The stand-in's authentication (X-SUBDOMAIN / X-AUTH-TOKEN) and its per-subdomain limit."""
from __future__ import annotations

import time

import requests

from sandbox.current_rms import create_app
from sandbox.runner import ServerThread


def test_missing_or_wrong_credentials_get_401_with_an_errors_body(rms, api_as):
    # Given an account "acme" with its key
    # When a call names no key, a wrong key, or an unknown subdomain
    no_headers = requests.get(f"{rms.url}/api/v1/members", timeout=5)
    wrong_key = api_as("acme", "not-the-key")("GET", "/members")
    unknown = api_as("nobody", "acme-key-1")("GET", "/members")
    # Then each is refused with 401 and {"errors": [...]}
    for response in (no_headers, wrong_key, unknown):
        assert response.status_code == 401
        assert response.json()["errors"] == ["Invalid subdomain or API key"]
    # and the right key is served
    assert rms("GET", "/members").status_code == 200


def test_query_parameter_credentials_are_accepted(rms):
    response = requests.get(f"{rms.url}/api/v1/members",
                            params={"subdomain": "acme", "apikey": "acme-key-1"}, timeout=5)
    assert response.status_code == 200


def test_accounts_are_isolated(rms, api_as, seed):
    # Given two accounts, each with one member
    rms.control("POST", "accounts", json={"subdomain": "other", "api_key": "other-key"})
    ours = seed({"name": "Ours Ltd", "membership_type": "Organisation"})
    theirs = seed({"name": "Theirs Ltd", "membership_type": "Organisation"}, subdomain="other")
    other = api_as("other", "other-key")
    # When each reads the other's member, Then it is not there
    assert other("GET", f"/members/{ours['id']}").status_code == 404
    assert rms("GET", f"/members/{theirs['id']}").status_code == 404
    assert [m["name"] for m in other("GET", "/members").json()["members"]] == ["Theirs Ltd"]


def test_account_key_can_be_rotated(rms, api_as):
    # When the control route gives "acme" a new key
    answer = rms.control("POST", "accounts", json={"subdomain": "acme", "api_key": "new-key"})
    # Then the old key is refused and the new one served
    assert answer.status_code == 200
    assert rms("GET", "/members").status_code == 401
    assert api_as("acme", "new-key")("GET", "/members").status_code == 200


def test_rate_limit_answers_429_with_retry_after_per_subdomain():
    # Given a limit of 3 calls per half-second window
    with ServerThread(create_app(rate_limit=3, window=0.5)) as server:
        for subdomain in ("acme", "other"):
            requests.post(f"{server.url}/_sandbox/accounts", timeout=5,
                          json={"subdomain": subdomain, "api_key": "k"})

        def call(subdomain: str) -> requests.Response:
            return requests.get(f"{server.url}/api/v1/members", timeout=5,
                                headers={"X-SUBDOMAIN": subdomain, "X-AUTH-TOKEN": "k"})

        # When acme makes a fourth call within the window
        statuses = [call("acme").status_code for _ in range(4)]
        refused = call("acme")
        # Then it is refused with Retry-After, while another subdomain is still served
        assert statuses == [200, 200, 200, 429]
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"  # whole seconds, rounded up
        assert refused.json() == {"errors": ["Rate limit exceeded"]}
        assert call("other").status_code == 200
        # and control routes are never limited; the stats count the 429s
        stats = requests.get(f"{server.url}/_sandbox/stats", timeout=5).json()
        assert stats["refused_429"] == 2
        # and after the window acme is served again
        time.sleep(0.55)
        assert call("acme").status_code == 200


def test_rate_limit_is_off_by_default(rms):
    assert all(rms("GET", "/members").status_code == 200 for _ in range(30))
