"""Staying under the provider's rate limits, across every process of the site.

Each limit ``(count, period)`` is split into ``k`` sub-windows of ``period / k``
seconds, each admitting ``count // (k + 1)`` requests. Any span of ``period``
seconds touches at most ``k + 1`` sub-windows, so even a sliding count at the
provider never exceeds ``count``. The counters live in the shared cache
(``SEPSMS["CACHE"]``), so ten web servers and their workers share one budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import caches

from .conf import sepsms_settings
from .exceptions import RateLimitedError

_MAX_SUBWINDOWS = 12
_KEY_PREFIX = "sepsms:throttle:"


def _plan(count: int, period: float) -> tuple[float, int]:
    """Sub-window length and how many requests each admits."""
    k = max(1, min(_MAX_SUBWINDOWS, count - 1))
    return period / k, max(1, count // (k + 1))


def acquire(
    name: str,
    limit: tuple[int, float],
    *,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> None:
    """Take one request slot of ``name``, waiting at most ``max_wait`` seconds.

    Raises :class:`RateLimitedError` (with ``retry_after``) when no slot frees
    up in time. Does nothing when ``SEPSMS["THROTTLE"]`` is off.
    """
    if not sepsms_settings.THROTTLE:
        return
    cache = caches[sepsms_settings.CACHE]
    window, per_window = _plan(*limit)
    waited = 0.0
    while True:
        now = clock()
        index = int(now // window)
        key = f"{_KEY_PREFIX}{name}:{limit[0]}/{limit[1]}:{index}"
        cache.add(key, 0, timeout=int(window) + 5)
        try:
            used = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=int(window) + 5)
            used = 1
        if used <= per_window:
            return
        wait = (index + 1) * window - now + 0.01
        if waited + wait > max_wait:
            raise RateLimitedError(
                "This site is sending faster than the provider allows; try again shortly.",
                code="local.throttled",
                retry_after=max(1.0, wait),
            )
        sleep(wait)
        waited += wait
