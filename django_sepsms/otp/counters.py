"""Several limits counted in one round trip of a shared Redis cache.

A code request goes through a cooldown and four counters (:mod:`.limits`). On
Django's Redis cache they are taken by one Lua script, run atomically by
Redis in the order given, stopping at the first refusal exactly as the calls
one by one would: a counter passed its limit stays counted, the ones after it
are not touched. The same round trip may read one more key (the recent answer
times, :mod:`.timing`), and a count given back takes one trip too. Keys and
values are the ones the plain calls use (django-ratelimit's counter keys, the
cache's own serializer), so both ways count in the same buckets. Other caches
have no such script: :func:`take_in_one_trip` then returns ``None`` and the
caller makes the calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import BaseCache
from django.core.cache.backends.redis import RedisCache

from ..conf import redis_client


@dataclass(frozen=True)
class Count:
    """One more request in a fixed-window counter, refused past ``limit``."""

    name: str
    #: The counter's key, before the cache's own prefix and version.
    key: str
    limit: int
    #: Seconds the counter lives.
    timeout: int
    #: Seconds until its window ends (what a refusal says).
    time_left: int
    #: A refused request is not counted (given back at once).
    refused_uncounted: bool = False


@dataclass(frozen=True)
class Hold:
    """A key taken only if nobody holds it (a cooldown), refused while someone does."""

    name: str
    key: str
    value: Any
    timeout: int


@dataclass(frozen=True)
class Refusal:
    """The step that refused, and what it found: the count reached, or the holder's value."""

    step: Count | Hold
    found: Any


#: KEYS: each step's key, then the key to read, if any. ARGV: the number of
#: steps, then for each a kind ("count", "count-uncounted", "hold"), a timeout
#: and a limit (counts) or value (hold). Returns the refusing step's place
#: (0: none), what it found, and the value read.
_SCRIPT = """
local steps = tonumber(ARGV[1])
local refused, found = 0, false
for i = 1, steps do
  local kind, timeout, arg = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]
  if kind ~= "hold" then
    redis.call("SET", KEYS[i], 0, "NX", "EX", timeout)
    local count = redis.call("INCR", KEYS[i])
    if count > tonumber(arg) then
      if kind == "count-uncounted" then
        redis.call("DECR", KEYS[i])
      end
      refused, found = i, count
      break
    end
  elseif not redis.call("SET", KEYS[i], arg, "NX", "EX", timeout) then
    refused, found = i, redis.call("GET", KEYS[i])
    break
  end
end
local read = false
if #KEYS > steps then
  read = redis.call("GET", KEYS[#KEYS])
end
return {refused, found, read}
"""


def take_in_one_trip(
    cache: BaseCache, steps: Sequence[Count | Hold], read: str | None = None
) -> tuple[Refusal | None, Any] | None:
    """Take ``steps`` in order until one refuses, and read the key ``read``, in one trip.

    Returns the refusal (or ``None``) and the value read (``None`` if missing or
    not asked for); or ``None`` itself when ``cache`` is not Django's Redis cache.
    """
    if not isinstance(cache, RedisCache):
        return None
    client = redis_client(cache)
    serializer = cache._cache._serializer  # type: ignore[attr-defined]  # the values' own form
    keys = [cache.make_key(step.key) for step in steps]
    args: list[Any] = [len(steps)]
    for step in steps:
        if isinstance(step, Count):
            kind = "count-uncounted" if step.refused_uncounted else "count"
            args += [kind, step.timeout, step.limit]
        else:
            args += ["hold", step.timeout, serializer.dumps(step.value)]
    if read is not None:
        keys.append(cache.make_key(read))
    refused, found, value = client.eval(_SCRIPT, len(keys), *keys, *args)
    value = None if value is None else serializer.loads(value)
    if not refused:
        return None, value
    step = steps[refused - 1]
    if isinstance(step, Hold) and found is not None:
        found = serializer.loads(found)
    return Refusal(step, found), value


_GIVE_BACK = """
if redis.call("EXISTS", KEYS[1]) == 1 then
  return redis.call("DECR", KEYS[1])
end
return false
"""


def give_back_in_one_trip(cache: BaseCache, key: str) -> bool:
    """Take one off the count at ``key`` if it still exists (its window may be over).

    False, having done nothing, when ``cache`` is not Django's Redis cache.
    """
    if not isinstance(cache, RedisCache):
        return False
    redis_client(cache).eval(_GIVE_BACK, 1, cache.make_key(key))
    return True
