"""Staying under the provider's rate limits, across every process of the site.

A small limit (at most ``_SLOT_LIMIT`` requests, such as the provider's 5 OTP
sends a minute) is kept exactly: it has one cache key per request slot, taken
with an atomic ``add()`` and held for the whole period, so any span of that
length sees at most ``count`` requests and a burst may use them all at once.

A larger limit ``(count, period)`` is split into ``k`` sub-windows of
``period / k`` seconds, each admitting ``count // (k + 1)`` requests. Any span
of ``period`` seconds touches at most ``k + 1`` sub-windows, so even a sliding
count at the provider never exceeds ``count``.

The counters live in the shared cache (``SEPSMS["CACHE"]``), so ten web
servers and their workers share one budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from django.core.cache import BaseCache, caches

from ..conf import sepsms_settings
from ..exceptions import RateLimitedError
from ..telemetry import hooks as telemetry

_MAX_SUBWINDOWS = 12
#: Limits up to this many requests get one cache key per slot (exact).
_SLOT_LIMIT = 12
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
    take = _take_slot if limit[0] <= _SLOT_LIMIT else _take_in_window
    waited = 0.0
    while True:
        wait = take(cache, f"{_KEY_PREFIX}{name}:{limit[0]}/{limit[1]}", limit, clock())
        if wait is None:
            return
        if waited + wait > max_wait:
            raise RateLimitedError(
                "This site is sending faster than the provider allows; try again shortly.",
                code="local.throttled",
                retry_after=max(1.0, wait),
            )
        telemetry.throttle_waited(name, wait)
        sleep(wait)
        waited += wait


def _take_slot(cache: BaseCache, key: str, limit: tuple[int, float], now: float) -> float | None:
    """Take a free slot (``None``), or say how long until the first one frees."""
    count, period = limit
    hold = math.ceil(period) + 1  # whole seconds, as cache timeouts are
    keys = [f"{key}:slot{i}" for i in range(count)]
    for slot in keys:
        if cache.add(slot, now + hold, timeout=hold):
            return None
    frees = [v for v in cache.get_many(keys).values() if isinstance(v, int | float)]
    if len(frees) < count:  # one just expired: try again at once
        return 0.01
    return max(0.01, min(frees) - now)


def _take_in_window(
    cache: BaseCache, key: str, limit: tuple[int, float], now: float
) -> float | None:
    """Count one request in the current sub-window (``None``), or say how long
    until the next sub-window starts."""
    window, per_window = _plan(*limit)
    index = int(now // window)
    key = f"{key}:{index}"
    cache.add(key, 0, timeout=int(window) + 5)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=int(window) + 5)
        used = 1
    if used <= per_window:
        return None
    return (index + 1) * window - now + 0.01
