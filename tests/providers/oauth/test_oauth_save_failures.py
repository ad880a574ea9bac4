"""A database that refuses the save right after a refresh never costs the rotated refresh token
(issue 13, finding 4): the save is retried, and the fresh set waits in Redis (sealed) until
some worker stores it, instead of the spent refresh token being sent again (``invalid_grant``)."""
from __future__ import annotations

from typing import Any

import pytest
import redis
from sqlalchemy.exc import OperationalError

from core.errors import Transient
from providers.oauth import OAuthTokens, TokenSet

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIS_URL,
    VAULT,
    RedisTokenStore,
    TokenEndpoint,
    token_set,
)


class LockedDatabaseStore(RedisTokenStore):
    """The stored tokens, whose next ``failures`` saves meet a locked database."""

    def __init__(self, namespace: str, failures: int) -> None:
        super().__init__(namespace)
        self.failures = failures

    def save(self, tokens: TokenSet) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("UPDATE integrations ...", {}, Exception("database is locked"))
        super().save(tokens)


def tokens_for(token_url: str, store: RedisTokenStore, refused: list[str]) -> OAuthTokens:
    return OAuthTokens(
        redis=redis.Redis.from_url(REDIS_URL), integration_id=store.key, system="sage",
        token_url=token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        client_auth="basic", load=store.load, save=store.save, on_refused=refused.append,
        vault=VAULT, timeout=(1.0, 2.0),
    )


def test_one_failed_save_after_a_refresh_is_retried(redis_db: redis.Redis, serve: Any, namespace: str) -> None:
    # Given an expired token, no grace for a spent refresh token (Sage), and one failing save
    endpoint = TokenEndpoint(grace=0)
    store, refused = LockedDatabaseStore(namespace, failures=1), []
    store.put(token_set())
    # When a job asks for a token
    token = tokens_for(serve(endpoint), store, refused).access_token()
    # Then one refresh, and its rotated refresh token is stored
    assert token == "access-1"
    assert len(endpoint.refresh_calls()) == 1
    assert store.saved() == ["refresh-1"]
    assert refused == []


def test_a_save_failing_throughout_keeps_the_fresh_tokens_for_the_next_worker(
    redis_db: redis.Redis, serve: Any, namespace: str,
) -> None:
    # Given an expired token, no grace, and a database refusing every save of the first job
    endpoint = TokenEndpoint(grace=0)
    store, refused = LockedDatabaseStore(namespace, failures=100), []
    store.put(token_set())
    url = serve(endpoint)
    # When a job's refresh succeeds but its saves all fail
    with pytest.raises(Transient):
        tokens_for(url, store, refused).access_token()
    assert store.saved() == []
    assert len(redis_db.keys(f"oauth:pending:*{namespace}*")) == 1  # sealed: no token in clear
    assert b"refresh-1" not in redis_db.get(redis_db.keys(f"oauth:pending:*{namespace}*")[0])
    # And the database answers again when the next worker asks for a token
    store.failures = 0
    token = tokens_for(url, store, refused).access_token()
    # Then it stores and uses the fresh set, without spending the old refresh token again
    assert token == "access-1"
    assert len(endpoint.refresh_calls()) == 1
    assert store.saved() == ["refresh-1"]
    assert refused == []
    assert redis_db.keys(f"oauth:pending:*{namespace}*") == []
