"""The Xero stand-in's OAuth: consent, code exchange, rotation with grace, 401s (providers.md A6)."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import requests

REDIRECT = "http://127.0.0.1:9/callback"
CLIENT = ("client-1", "secret-1")


def _token(server, **form):
    return requests.post(f"{server.url}/connect/token", data=form, auth=CLIENT, timeout=5)


def _consent(server, **extra):
    params = {"response_type": "code", "client_id": CLIENT[0], "redirect_uri": REDIRECT,
              "scope": "offline_access accounting.contacts", "state": "st-1", **extra}
    answer = requests.get(f"{server.url}/identity/connect/authorize", params=params,
                          allow_redirects=False, timeout=5)
    return answer, parse_qs(urlsplit(answer.headers.get("Location", "")).query)


def test_consent_redirects_with_a_single_use_code(xero_server):
    # When
    answer, query = _consent(xero_server)
    exchanged = _token(xero_server, grant_type="authorization_code", code=query["code"][0],
                       redirect_uri=REDIRECT)
    reused = _token(xero_server, grant_type="authorization_code", code=query["code"][0],
                    redirect_uri=REDIRECT)
    # Then
    assert answer.status_code == 302 and answer.headers["Location"].startswith(REDIRECT + "?")
    assert query["state"] == ["st-1"]
    tokens = exchanged.json()
    assert exchanged.status_code == 200 and tokens["expires_in"] == 1800
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    assert reused.status_code == 400 and reused.json() == {"error": "invalid_grant"}
    # and the granted tenant is found through /connections
    connections = requests.get(f"{xero_server.url}/connections", timeout=5,
                               headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert connections[0]["tenantType"] == "ORGANISATION" and connections[0]["tenantId"]


def test_the_token_endpoint_takes_credentials_in_the_body_too(xero_server):
    # When (xero-python refreshes with body credentials: issue 17, gap 2)
    answer = requests.post(f"{xero_server.url}/connect/token", timeout=5,
                           data={"grant_type": "refresh_token", "refresh_token": "x",
                                 "client_id": CLIENT[0], "client_secret": CLIENT[1]})
    # Then the client is authenticated; the unknown refresh token is what is refused
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_grant"}


def test_the_token_endpoint_refuses_a_request_without_credentials(xero_server):
    # When
    answer = requests.post(f"{xero_server.url}/connect/token", timeout=5,
                           data={"grant_type": "refresh_token", "refresh_token": "x",
                                 "client_id": CLIENT[0]})
    # Then
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_client"}


def test_refresh_rotates_and_the_old_token_replays_the_same_pair_during_the_grace(serve):
    # Given
    server = serve(refresh_grace=0.4)
    _, query = _consent(server)
    first = _token(server, grant_type="authorization_code", code=query["code"][0],
                   redirect_uri=REDIRECT).json()
    stranger = requests.post(f"{server.url}/connect/token", auth=("other-client", "s"), timeout=5,
                             data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    # When
    rotated = _token(server, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    replayed = _token(server, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    # Then
    assert stranger.json() == {"error": "invalid_grant"}  # bound to the client it was issued to
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    assert replayed == rotated
    # and after the grace period the old token is refused, the new one still works
    time.sleep(0.45)
    late = _token(server, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert late.status_code == 400 and late.json() == {"error": "invalid_grant"}
    assert _token(server, grant_type="refresh_token", refresh_token=rotated["refresh_token"]).status_code == 200


def test_an_expired_access_token_gets_the_problem_json_401(serve, api_for):
    # Given tokens that live 0.2 s
    xero = api_for(serve(access_token_lifetime=0.2))
    time.sleep(0.25)
    # When
    answer = xero("GET", "/Contacts")
    # Then
    body = answer.json()
    assert answer.status_code == 401
    assert body["Title"] == "Unauthorized" and body["Status"] == 401
    assert body["Detail"].startswith("TokenExpired: token expired at ")


def test_a_revoked_connection_refuses_its_tokens(xero):
    # Given
    xero.control("POST", "revoke", json={"tenant": xero.tenant})
    # When
    answer = xero("GET", "/Contacts")
    refresh = requests.post(f"{xero.url}/connect/token", auth=("client", "secret"), timeout=5,
                            data={"grant_type": "refresh_token", "refresh_token": xero.tokens["refresh_token"]})
    # Then
    assert answer.status_code == 401 and answer.json()["Detail"] == "AuthenticationUnsuccessful"
    assert refresh.json() == {"error": "invalid_grant"}


def test_connections_answers_in_the_sdks_casing_too(xero_server):
    # Given (issue 17, gap 3: xero-python asks for /Connections)
    tokens = requests.post(f"{xero_server.url}/_sandbox/tokens", json={}, timeout=5).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    # When
    answers = [requests.get(f"{xero_server.url}/{path}", headers=headers, timeout=5)
               for path in ("connections", "Connections")]
    # Then
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json()[0]["tenantId"] == answers[1].json()[0]["tenantId"] == tokens["tenant"]
