"""Staying under the provider's rate limits, across every process of the site.

A small limit (at most ``_SLOT_LIMIT`` requests, such as the provider's 5 OTP
sends a minute) is kept exactly: it has one cache key per request slot, taken
only while it is free and held for the whole period, so any span of that
length sees at most ``count`` requests and a burst may use them all at once.

A larger limit ``(count, period)`` is split into ``k`` sub-windows of
``period / k`` seconds, each admitting ``count // (k + 1)`` requests. Any span
of ``period`` seconds touches at most ``k + 1`` sub-windows, so even a sliding
count at the provider never exceeds ``count``.

The counters live in the shared cache (``SEPSMS["CACHE"]``), so ten web
servers and their workers share one budget. On Django's Redis cache every
limit a request needs is taken by one Lua script, in one round trip: all of
them or, when one has no room, none (the wait is the longest of theirs). Other
caches take the limits one by one with ``add()`` and ``incr()``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache

from ..conf import redis_client, sepsms_settings
from ..exceptions import RateLimitedError
from ..telemetry import hooks as telemetry

_MAX_SUBWINDOWS = 12
#: Limits up to this many requests get one cache key per slot (exact).
_SLOT_LIMIT = 12
_KEY_PREFIX = "sepsms:throttle:"

#: A limit by name: ``(name, (count, period))``.
Limit = tuple[str, tuple[int, float]]


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
    acquire_all([(name, limit)], max_wait=max_wait, sleep=sleep, clock=clock)


def acquire_all(
    limits: Sequence[Limit],
    *,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> None:
    """Take one request slot of every limit in ``limits``; all waits together at
    most ``max_wait`` seconds (see :func:`acquire`)."""
    if not sepsms_settings.THROTTLE or not limits:
        return
    cache = caches[sepsms_settings.CACHE]
    if isinstance(cache, RedisCache):
        names = "+".join(name for name, _ in limits)
        _wait_for(names, lambda now: _take_in_one_trip(cache, limits, now), max_wait, sleep, clock)
        return
    waited = 0.0
    for name, limit in limits:
        take = _take_slot if limit[0] <= _SLOT_LIMIT else _take_in_window
        key = _key(name, limit)
        waited += _wait_for(
            name,
            lambda now, take=take, key=key, limit=limit: take(cache, key, limit, now),  # type: ignore[misc]
            max_wait - waited,
            sleep,
            clock,
        )


def _key(name: str, limit: tuple[int, float]) -> str:
    return f"{_KEY_PREFIX}{name}:{limit[0]}/{limit[1]}"


def _wait_for(
    name: str,
    take: Callable[[float], float | None],
    max_wait: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> float:
    """Call ``take`` until it takes (``None``) or asks for a wait past ``max_wait``;
    return how long it waited (each wait noted under ``name``, the limits' names)."""
    waited = 0.0
    while True:
        wait = take(clock())
        if wait is None:
            return waited
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


#: KEYS: every limit's keys (a slot limit's ``count`` slot keys, a window limit's
#: one counter). ARGV: for each limit its kind ("slot" or "window"), how many
#: keys it has, a timeout in seconds, then for a slot the time it frees and the
#: time now, for a window how many requests it admits and the seconds until it
#: ends. Returns false when every limit was taken, else the longest wait (a
#: string: Redis would cut a Lua number to an integer).
_SCRIPT = """
local waits, plans, k, a = {}, {}, 1, 1
while ARGV[a] do
  local kind, n, timeout = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local x, y = ARGV[a + 3], tonumber(ARGV[a + 4])
  if kind == "slot" then
    local free, first = false, false
    for i = k, k + n - 1 do
      local held = redis.call("GET", KEYS[i])
      if not held then
        free = i
        break
      end
      held = tonumber(held) or 0
      if not first or held < first then first = held end
    end
    if free then
      plans[#plans + 1] = {"slot", free, timeout, x}
    else
      waits[#waits + 1] = math.max(0.01, first - y)
    end
  else
    local used = tonumber(redis.call("GET", KEYS[k]) or "0")
    if used < tonumber(x) then
      plans[#plans + 1] = {"window", k, timeout}
    else
      waits[#waits + 1] = y
    end
  end
  k, a = k + n, a + 5
end
if #waits > 0 then
  return tostring(math.max(unpack(waits)))
end
for _, plan in ipairs(plans) do
  if plan[1] == "slot" then
    redis.call("SET", KEYS[plan[2]], plan[4], "EX", plan[3])
  else
    redis.call("SET", KEYS[plan[2]], 0, "NX", "EX", plan[3])
    redis.call("INCR", KEYS[plan[2]])
  end
end
return false
"""


def _take_in_one_trip(cache: RedisCache, limits: Sequence[Limit], now: float) -> float | None:
    """Take every limit at once (``None``), or say how long until all have room."""
    keys: list[str] = []
    args: list[Any] = []
    for name, limit in limits:
        count, period = limit
        key = _key(name, limit)
        if count <= _SLOT_LIMIT:
            hold = math.ceil(period) + 1
            keys += [cache.make_key(f"{key}:slot{i}") for i in range(count)]
            args += ["slot", count, hold, repr(now + hold), repr(now)]
        else:
            window, per_window = _plan(count, period)
            index = int(now // window)
            keys.append(cache.make_key(f"{key}:{index}"))
            args += [
                "window",
                1,
                int(window) + 5,
                per_window,
                repr((index + 1) * window - now + 0.01),
            ]
    client = redis_client(cache)
    wait = client.eval(_SCRIPT, len(keys), *keys, *args)
    return None if wait is None else float(wait)
