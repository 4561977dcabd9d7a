from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Limits and throttles live in the (shared, Redis) cache: start each test empty."""
    cache.clear()
