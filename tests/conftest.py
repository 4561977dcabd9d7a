from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings

from django_sepsms.simulator import Simulator
from tests.helpers import KEY, http_settings


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Limits and throttles live in the (shared, Redis) cache: start each test empty.

    Only this run's keys are deleted (``cache.clear()`` would empty the whole
    Redis database under any other test run sharing it).
    """
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=cache.make_key("*"), count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    """One simulator for the whole run (reset by ``sim``)."""
    scopes = {"sms:send", "sms:read", "otp:send", "otp:verify", "credit:read"}
    with Simulator(api_keys={KEY: scopes, "sk_sep_readonly": {"sms:read"}}) as sim:
        yield sim


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    """The simulator, reset, with the HTTP backend pointed at it."""
    simulator.reset()
    simulator.rate_limits_enabled = False
    with override_settings(SEPSMS=http_settings(simulator)):
        yield simulator


@pytest.fixture(scope="session")
def live_server(django_db_setup: None, live_server: Any) -> Any:
    """pytest-django's live server, started only once the test database exists.

    Started earlier, it sees the in-memory SQLite of the settings (``NAME`` is
    ``:memory:`` until the file test database is set up) and hands the test
    thread's connection to every request thread, each of which closes it when its
    request ends: parallel page, CSS and script requests then share, and close,
    one SQLite connection under each other, which can crash the interpreter. Here
    each request thread opens a connection of its own to the file test database.
    """
    assert not live_server.thread.connections_override, (
        "the live server shares the test thread's database connection"
    )
    return live_server
