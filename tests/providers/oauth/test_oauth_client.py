"""What we send to the token endpoint: form-encoded grants, Basic or body client authentication."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest

from core.errors import CredentialsRefused
from providers.oauth import TokenSet, exchange_code, refresh

from .conftest import AUTH_CODE, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TokenEndpoint

TIMEOUT = (1.0, 2.0)


def _sent(endpoint: TokenEndpoint) -> tuple[dict[str, Any], dict[str, list[str]]]:
    call = endpoint.control.calls[-1]
    return call["headers"], parse_qs(call["body"])


def test_basic_client_auth_sends_the_credentials_in_the_header(serve: Any) -> None:
    # Given a token endpoint expecting HTTP Basic (Xero, QuickBooks)
    endpoint = TokenEndpoint(client_auth="basic")
    # When a refresh token is used
    tokens = refresh(token_url=serve(endpoint), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                     client_auth="basic", refresh_token="refresh-0", timeout=TIMEOUT)
    # Then the grant went form-encoded, with client_id:client_secret in the header only
    headers, form = _sent(endpoint)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert headers["Authorization"] == f"Basic {basic}"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form == {"grant_type": ["refresh_token"], "refresh_token": ["refresh-0"]}
    assert (tokens.access_token, tokens.refresh_token) == ("access-1", "refresh-1")


def test_body_client_auth_sends_the_credentials_in_the_form(serve: Any) -> None:
    # Given a token endpoint expecting the credentials in the body (Sage)
    endpoint = TokenEndpoint(client_auth="body")
    # When a refresh token is used
    refresh(token_url=serve(endpoint), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
            client_auth="body", refresh_token="refresh-0", timeout=TIMEOUT)
    # Then they went in the form and there is no Authorization header
    headers, form = _sent(endpoint)
    assert "Authorization" not in headers
    assert form == {
        "grant_type": ["refresh_token"], "refresh_token": ["refresh-0"],
        "client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET],
    }


def test_wrong_client_auth_is_refused(serve: Any) -> None:
    # Given an endpoint expecting Basic, when the credentials go in the body
    endpoint = TokenEndpoint(client_auth="basic")
    with pytest.raises(CredentialsRefused) as error:
        refresh(token_url=serve(endpoint), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                client_auth="body", refresh_token="refresh-0", timeout=TIMEOUT)
    # Then the refusal says so (invalid_client needs a person as much as invalid_grant)
    assert error.value.status == 401


def test_an_unknown_client_auth_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        refresh(token_url="http://127.0.0.1:9/token", client_id="a", client_secret="b",
                client_auth="header", refresh_token="r", timeout=TIMEOUT)


def test_exchange_code_returns_the_tokens_and_the_rest_of_the_answer(serve: Any) -> None:
    # Given a connect flow's callback with an authorization code
    endpoint = TokenEndpoint(client_auth="basic")
    before = datetime.now(timezone.utc)
    # When it is exchanged
    tokens, extra = exchange_code(
        token_url=serve(endpoint), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        client_auth="basic", code=AUTH_CODE, redirect_uri=REDIRECT_URI, timeout=TIMEOUT,
    )
    # Then the grant was sent as OAuth says, and the answer is split into tokens and the rest
    _, form = _sent(endpoint)
    assert form == {"grant_type": ["authorization_code"], "code": [AUTH_CODE],
                    "redirect_uri": [REDIRECT_URI]}
    assert (tokens.access_token, tokens.refresh_token) == ("access-1", "refresh-1")
    assert before + timedelta(seconds=1790) <= tokens.expires_at
    assert tokens.expires_at <= datetime.now(timezone.utc) + timedelta(seconds=1800)
    assert extra == {
        "expires_in": 1800, "token_type": "Bearer", "x_refresh_token_expires_in": 8726400
    }


def test_a_used_code_is_refused(serve: Any) -> None:
    endpoint = TokenEndpoint(client_auth="body")
    with pytest.raises(CredentialsRefused):
        exchange_code(token_url=serve(endpoint), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                      client_auth="body", code="spent", redirect_uri=REDIRECT_URI, timeout=TIMEOUT)


def test_token_set_round_trips_through_iso_times_and_hides_its_tokens() -> None:
    # Given a token set
    expires_at = datetime(2026, 11, 26, 13, 0, tzinfo=timezone.utc)
    tokens = TokenSet(access_token="secret-a", refresh_token="secret-r", expires_at=expires_at)
    # When stored and read back, and when shown
    stored = tokens.to_dict()
    # Then the time is ISO UTC, nothing is lost, and no token appears in its repr
    assert stored["expires_at"] == "2026-11-26T13:00:00Z"
    assert TokenSet.from_dict(stored) == tokens
    assert "secret" not in repr(tokens)


def test_token_set_reads_offsets_and_naive_times_as_utc() -> None:
    offset = TokenSet.from_dict({"access_token": "a", "refresh_token": "r",
                                 "expires_at": "2026-11-26T14:00:00+01:00"})
    naive = TokenSet.from_dict({"access_token": "a", "refresh_token": "r",
                                "expires_at": "2026-11-26T13:00:00"})
    one_pm_utc = datetime(2026, 11, 26, 13, 0, tzinfo=timezone.utc)
    assert offset.expires_at == naive.expires_at == one_pm_utc
    assert offset.expires_at.tzinfo == timezone.utc
