"""The Sage stand-in's access rules: X-Business and the lead business, rate limit, OAuth."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.runner import ServerThread
from sandbox.sage import create_app


def _bearer(token: str, business: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if business:
        headers["X-Business"] = business
    return headers


def _create(url: str, headers: dict[str, str], name: str) -> requests.Response:
    body = {"contact": {"name": name, "contact_type_ids": ["CUSTOMER"]}}
    return requests.post(f"{url}/v3.1/contacts", json=body, headers=headers, timeout=5)


def _names(url: str, headers: dict[str, str]) -> set[str]:
    items = requests.get(f"{url}/v3.1/contacts", params={"attributes": "all"},
                         headers=headers, timeout=5).json()["$items"]
    return {item["name"] for item in items}


def test_x_business_selects_the_business_and_its_absence_means_the_lead(sage, grant):
    # Given: the user has a second business
    lead = grant["tenant"]
    second = requests.post(f"{sage.url}/_sandbox/businesses", json={"tenant": lead},
                           timeout=5).json()["id"]
    token = grant["access_token"]
    # When
    _create(sage.url, _bearer(token, second), "In the second")
    _create(sage.url, _bearer(token), "In the lead")
    # Then
    assert _names(sage.url, _bearer(token, second)) == {"In the second"}
    assert _names(sage.url, _bearer(token, lead)) == {"In the lead"}
    assert _names(sage.url, _bearer(token)) == {"In the lead"}


def test_businesses_list_and_the_lead(sage, grant):
    # Given
    lead = grant["tenant"]
    second = requests.post(f"{sage.url}/_sandbox/businesses", json={"tenant": lead},
                           timeout=5).json()["id"]
    headers = _bearer(grant["access_token"], second)
    # When
    listing = requests.get(f"{sage.url}/v3.1/businesses", headers=headers, timeout=5).json()
    found = requests.get(f"{sage.url}/v3.1/businesses/lead", headers=headers, timeout=5).json()
    # Then
    assert [item["id"] for item in listing["$items"]] == [lead, second]
    assert listing["$total"] == 2 and listing["$next"] is None
    assert found["id"] == lead


def test_another_users_business_is_refused(sage, grant):
    # Given
    stranger = requests.post(f"{sage.url}/_sandbox/tokens", json={}, timeout=5).json()
    # When
    response = _create(sage.url, _bearer(grant["access_token"], stranger["tenant"]), "X")
    # Then
    assert response.status_code == 401
    assert response.json()[0]["$dataCode"] == "AuthorizationFailure"


def test_rate_limit_per_business_answers_429_then_resets():
    # Given: 3 calls per 0.4 s (the real figure is 100 per 60 s)
    with ServerThread(create_app(rate_limit=3, window=0.4)) as sage:
        one = requests.post(f"{sage.url}/_sandbox/tokens", json={}, timeout=5).json()
        other = requests.post(f"{sage.url}/_sandbox/tokens", json={}, timeout=5).json()
        # When
        answers = [_create(sage.url, _bearer(one["access_token"]), f"C{n}") for n in range(4)]
        elsewhere = _create(sage.url, _bearer(other["access_token"]), "Other business")
        time.sleep(0.45)
        after_window = _create(sage.url, _bearer(one["access_token"]), "Later")
        stats = requests.get(f"{sage.url}/_sandbox/stats", timeout=5).json()
    # Then
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    refused = answers[-1]
    assert refused.json()[0]["$dataCode"] == "TooManyRequests"
    assert int(refused.headers["Retry-After"]) >= 1
    assert elsewhere.status_code == 201 and after_window.status_code == 201
    assert stats["refused_429"] == 1 and stats["contacts"] == 5


@pytest.fixture(scope="module")
def short_tokens():
    with ServerThread(create_app(access_token_lifetime=0.3)) as server:
        yield server


def _refresh(url: str, refresh_token: str) -> requests.Response:
    return requests.post(f"{url}/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": "app", "client_secret": "secret",
    })


def test_access_tokens_expire(short_tokens):
    # Given
    grant = requests.post(f"{short_tokens.url}/_sandbox/tokens", json={}, timeout=5).json()
    assert _create(short_tokens.url, _bearer(grant["access_token"]), "Early").status_code == 201
    # When
    time.sleep(0.35)
    late = _create(short_tokens.url, _bearer(grant["access_token"]), "Late")
    # Then
    assert late.status_code == 401
    assert late.json()[0]["$dataCode"] == "AuthorizationFailure"


def test_refresh_tokens_rotate_with_no_grace(sage, grant):
    # When
    first = _refresh(sage.url, grant["refresh_token"])
    reused = _refresh(sage.url, grant["refresh_token"])
    second = _refresh(sage.url, first.json()["refresh_token"])
    # Then
    assert first.status_code == 200
    body = first.json()
    assert body["expires_in"] == 300 and body["refresh_token_expires_in"] == 2678400
    assert body["refresh_token"] != grant["refresh_token"]
    assert (reused.status_code, reused.json()) == (400, {"error": "invalid_grant"})
    assert second.status_code == 200
    assert _create(sage.url, _bearer(body["access_token"]), "Fresh").status_code == 201


def test_authorize_then_code_exchange_with_client_credentials_in_the_body(sage):
    # Given
    answer = requests.get(f"{sage.url}/oauth2/auth/central", allow_redirects=False, timeout=5,
                          params={"response_type": "code", "client_id": "app", "state": "s1",
                                  "redirect_uri": "http://127.0.0.1:9/cb", "scope": "full_access"})
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    form = {"grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": "http://127.0.0.1:9/cb"}
    # When
    basic_only = requests.post(f"{sage.url}/token", data=form, auth=("app", "secret"), timeout=5)
    exchanged = requests.post(f"{sage.url}/token", timeout=5,
                              data={**form, "client_id": "app", "client_secret": "secret"})
    replayed = requests.post(f"{sage.url}/token", timeout=5,
                             data={**form, "client_id": "app", "client_secret": "secret"})
    # Then
    assert answer.status_code == 302
    assert query["state"] == ["s1"] and query["country"] == ["gb"]
    assert basic_only.status_code == 401 and basic_only.json() == {"error": "invalid_client"}
    assert exchanged.status_code == 200 and exchanged.json()["scope"] == "full_access"
    assert replayed.status_code == 400 and replayed.json() == {"error": "invalid_grant"}
