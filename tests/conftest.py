from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import override_settings

from django_sepsms.simulator import Simulator
from tests.helpers import KEY, http_settings


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Limits and throttles live in the (shared, Redis) cache: start each test empty."""
    cache.clear()


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
