"""The Xero stand-in's rate limits: headers on every answer, 429s per limit (providers.md A5)."""
from __future__ import annotations

import time


def test_every_answer_carries_the_remaining_counts(xero):
    # When
    first = xero("GET", "/Contacts")
    second = xero("PUT", "/Contacts", json={"Contacts": [{"Name": ""}]})  # a refused write counts too
    # Then
    assert first.headers["X-MinLimit-Remaining"] == "59"
    assert first.headers["X-DayLimit-Remaining"] == "4999"
    assert int(first.headers["X-AppMinLimit-Remaining"]) > 0
    assert second.status_code == 400 and second.headers["X-MinLimit-Remaining"] == "58"


def test_past_the_minute_limit_a_429_names_the_problem_and_the_wait(serve, api_for):
    # Given 3 calls per 0.5 s
    server = serve(rate_limit=3, window=0.5)
    xero, neighbour = api_for(server), api_for(server)
    statuses = [xero("GET", "/Contacts").status_code for _ in range(3)]
    # When
    refused = xero("GET", "/Contacts")
    # Then
    assert statuses == [200, 200, 200] and refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["X-MinLimit-Remaining"] == "0"
    assert neighbour("GET", "/Contacts").status_code == 200  # limits are per tenant
    assert xero.control("GET", "stats").json()["refused_429"] == 1
    # and the window resets
    time.sleep(0.55)
    assert xero("GET", "/Contacts").status_code == 200


def test_past_the_day_limit_the_problem_is_day(serve, api_for):
    # Given
    xero = api_for(serve(day_limit=2, day_window=3600))
    xero("GET", "/Contacts"), xero("GET", "/Contacts")
    # When
    refused = xero("GET", "/Contacts")
    # Then
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "day"
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600


def test_more_than_five_calls_in_flight_are_refused_as_concurrent(xero_server, xero):
    # Given five calls of this tenant in progress
    throttle = xero_server.app.extensions["sandbox"].throttle
    for _ in range(5):
        assert throttle.enter(xero.tenant) is None
    try:
        # When
        refused = xero("GET", "/Contacts")
    finally:
        for _ in range(5):
            throttle.leave(xero.tenant)
    # Then
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "concurrent"
    assert "Retry-After" in refused.headers
    assert xero("GET", "/Contacts").status_code == 200
