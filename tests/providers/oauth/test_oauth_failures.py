"""Lost answers, refused grants and failing endpoints, as each system behaves."""
from __future__ import annotations

from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from core.errors import CredentialsRefused, Transient
from providers.oauth import OAuthTokens

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIS_URL,
    VAULT,
    RedisTokenStore,
    TokenEndpoint,
    token_set,
)


def _tokens(token_url: str, store: RedisTokenStore, refused: list[str], system: str) -> OAuthTokens:
    return OAuthTokens(
        redis=redis.Redis.from_url(REDIS_URL), integration_id=store.key, system=system,
        token_url=token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        client_auth="basic", load=store.load, save=store.save, on_refused=refused.append,
        vault=VAULT, timeout=(1.0, 2.0),
    )


def _refreshes(system: str, result: str) -> float:
    labels = {"system": system, "result": result}
    return REGISTRY.get_sample_value("token_refreshes_total", labels) or 0.0


def test_a_lost_answer_is_recovered_within_the_grace_period(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given an expired token, Xero's grace for a spent refresh token, and a lost first answer
    endpoint = TokenEndpoint(grace=60)
    endpoint.lose_answers(1)
    store, refused = RedisTokenStore(namespace), []
    store.put(token_set())
    # When a job asks for a token
    token = _tokens(serve(endpoint), store, refused, "xero").access_token()
    # Then the same refresh token was sent again and its answer used and saved
    sent = [call["body"] for call in endpoint.refresh_calls()]
    assert len(sent) == 2 and all("refresh_token=refresh-0" in body for body in sent)
    assert token == "access-2"
    assert store.saved() == ["refresh-2"]
    assert refused == []


def test_a_lost_answer_without_grace_needs_reconnecting(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given an expired token, no grace (Sage), and a lost first answer
    endpoint = TokenEndpoint(grace=0)
    endpoint.lose_answers(1)
    store, refused = RedisTokenStore(namespace), []
    store.put(token_set())
    refused_before = _refreshes("sage-lost", "refused")
    # When a job asks for a token
    with pytest.raises(CredentialsRefused):
        _tokens(serve(endpoint), store, refused, "sage-lost").access_token()
    # Then the retry met invalid_grant: the integration is told to reconnect, nothing is saved
    assert len(endpoint.refresh_calls()) == 2
    assert len(refused) == 1 and "reconnect" in refused[0]
    assert store.saved() == []
    assert _refreshes("sage-lost", "refused") == refused_before + 1


def test_invalid_grant_marks_the_integration_for_reconnecting(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given a refresh token the system no longer accepts (revoked, or past its lifetime)
    endpoint = TokenEndpoint()
    store, refused = RedisTokenStore(namespace), []
    store.put(token_set(refresh_token="refresh-revoked"))
    # When a job asks for a token
    with pytest.raises(CredentialsRefused) as error:
        _tokens(serve(endpoint), store, refused, "xero").access_token()
    # Then it is refused at once (no retry), and on_refused was called
    assert len(endpoint.refresh_calls()) == 1
    assert len(refused) == 1
    assert error.value.status == 400


def test_server_errors_are_retried_then_transient(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given a token endpoint answering 503 twice
    endpoint = TokenEndpoint()
    endpoint.fail(503, times=2)
    store, refused = RedisTokenStore(namespace), []
    store.put(token_set())
    failed_before = _refreshes("qbo-down", "failed")
    # When a job asks for a token
    with pytest.raises(Transient) as error:
        _tokens(serve(endpoint), store, refused, "qbo-down").access_token()
    # Then it tried twice, the event will retry, and the integration is not marked
    assert len(endpoint.refresh_calls()) == 2
    assert error.value.status == 503
    assert refused == []
    assert store.load().refresh_token == "refresh-0"
    assert _refreshes("qbo-down", "failed") == failed_before + 2


def test_one_server_error_then_success(redis_db: redis.Redis, serve: Any, namespace: str) -> None:
    # Given a token endpoint answering 502 once
    endpoint = TokenEndpoint()
    endpoint.fail(502, times=1)
    store, refused = RedisTokenStore(namespace), []
    store.put(token_set())
    ok_before = _refreshes("xero-flaky", "ok")
    # When a job asks for a token, then it gets one on the retry, counted once as a refresh
    assert _tokens(serve(endpoint), store, refused, "xero-flaky").access_token() == "access-1"
    assert _refreshes("xero-flaky", "ok") == ok_before + 1


def test_tokens_are_never_logged(redis_db: redis.Redis, serve: Any, namespace: str) -> None:
    # Given an expired token and a lost first answer (the path that logs the most)
    endpoint = TokenEndpoint(grace=60)
    endpoint.lose_answers(1)
    store = RedisTokenStore(namespace)
    store.put(token_set())
    # When a job gets a token
    with capture_logs() as logs:
        _tokens(serve(endpoint), store, [], "xero").access_token()
    # Then the logs name the integration and system, and no token
    assert logs and all(entry["integration_id"] == store.key for entry in logs)
    text = repr(logs)
    assert "access-" not in text and "refresh-" not in text
