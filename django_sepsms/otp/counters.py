"""Several limits counted in one round trip of a shared Redis cache.

A code request goes through a cooldown and four counters (:mod:`.limits`). On
Django's Redis cache they are taken by one Lua script, run atomically by
Redis in the order given, stopping at the first refusal exactly as the calls
one by one would: a counter passed its limit stays counted, the ones after it
are not touched. The same round trip may read one more key (the recent answer
times, :mod:`.timing`), and a count given back takes one trip too. The pumping
guard (:mod:`.pumping`) rides in the same script: its scopes are judged before
the steps and counted after them, and a verified code is counted in the trip
that gives its attempt back. Keys and values are the ones the plain calls use
(django-ratelimit's counter keys, the cache's own serializer), so both ways
count in the same buckets. Other caches have no such script:
:func:`take_in_one_trip` then returns ``None`` and the caller makes the calls.
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
class Scope:
    """One scope the pumping guard watches: the site, or a range of numbers.

    Its figures are kept in one-minute buckets, counters the cache's own
    ``incr`` and ``get`` read as plain integers.
    """

    name: str
    #: The keys of the window's codes sent and codes verified, this minute's first.
    sent: tuple[str, ...]
    verified: tuple[str, ...]
    #: The key of this minute's refusals, and of the episode's mark.
    refused: str
    episode: str
    #: Codes sent in the window before the scope may be suspected.
    min_sent: int
    #: Codes a minute a suspected scope still sends (before what its verified codes earn).
    tightened: int
    #: Neither judged nor counted when the scope before it is suspected.
    skipped_after_suspected: bool = False


@dataclass(frozen=True)
class Watch:
    """The pumping guard's part of a code request: judged before the steps, counted after."""

    name: str
    scopes: tuple[Scope, ...]
    #: Codes verified over codes sent below which a scope is suspected.
    min_conversion: float
    #: Seconds a bucket and an episode's mark live.
    bucket_timeout: int
    episode_timeout: int
    #: The value a new episode's mark is given (the time it starts).
    mark: int
    #: Seconds until this minute's bucket ends (what a refusal says).
    time_left: int


@dataclass(frozen=True)
class Judgement:
    """What the guard found for one scope: its window's figures, and whether it is suspected."""

    scope: Scope
    judged: bool
    suspected: bool
    #: The scope was not suspected before: its episode starts now.
    new_episode: bool
    sent: int
    verified: int


def allowance(scope: Scope, verified: int, width: int) -> int:
    """Codes a minute a suspected scope sends: its floor, plus twice the codes it
    verifies a minute on average over the window (genuine users keep their codes)."""
    return scope.tightened + -(-2 * verified // width)


@dataclass(frozen=True)
class Refusal:
    """The step that refused, and what it found: the count reached, or the holder's value."""

    step: Count | Hold | Watch
    found: Any


#: KEYS: each step's key, the key to read (if any), then for each scope of the
#: guard its sent keys, verified keys, refused key and episode key. ARGV: the
#: number of steps, 1 if a key is read, then for each step a kind ("count",
#: "count-uncounted", "hold"), a timeout and a limit (counts) or value (hold);
#: then the guard's: its scopes (0: none), window width, least conversion,
#: bucket and mark timeouts, the mark, and for each scope its least sent,
#: tightened rate and 1 if skipped after a suspected scope. Returns the
#: refusing step's place (0: none; past the steps: a scope of the guard), what
#: it found, the value read and the guard's report (5 numbers per scope).
_SCRIPT = """
local steps, reading = tonumber(ARGV[1]), tonumber(ARGV[2])
local refused, found = 0, false
local g = 3 + 3 * steps
local scopes = tonumber(ARGV[g] or "0")
local report, counted = {}, {}
if scopes > 0 then
  local width, least = tonumber(ARGV[g + 1]), tonumber(ARGV[g + 2])
  local bucket_ttl, mark_ttl, mark = ARGV[g + 3], ARGV[g + 4], ARGV[g + 5]
  local k, a, before = steps + reading, g + 6, false
  for s = 1, scopes do
    local min_sent, tightened = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    local judged, suspected, new, sent, verified = 0, 0, 0, 0, 0
    if not (ARGV[a + 2] == "1" and before) then
      judged = 1
      for b = 1, width do
        sent = sent + tonumber(redis.call("GET", KEYS[k + b]) or "0")
        verified = verified + tonumber(redis.call("GET", KEYS[k + width + b]) or "0")
      end
      if sent >= min_sent and verified < least * sent then
        suspected = 1
        local episode = KEYS[k + 2 * width + 2]
        if redis.call("SET", episode, mark, "NX", "EX", mark_ttl) then
          new = 1
        else
          redis.call("EXPIRE", episode, mark_ttl)
        end
        local now = tonumber(redis.call("GET", KEYS[k + 1]) or "0")
        local allowed = tightened + math.ceil(2 * verified / width)
        if refused == 0 and now >= allowed then
          refused, found = steps + s, now
          redis.call("SET", KEYS[k + 2 * width + 1], 0, "NX", "EX", bucket_ttl)
          redis.call("INCR", KEYS[k + 2 * width + 1])
        end
      end
      counted[#counted + 1] = k + 1
    end
    before = suspected == 1
    for _, v in ipairs({judged, suspected, new, sent, verified}) do
      report[#report + 1] = v
    end
    k, a = k + 2 * width + 2, a + 3
  end
end
for i = 1, steps do
  if refused ~= 0 then
    break
  end
  local kind, timeout, arg = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  if kind ~= "hold" then
    redis.call("SET", KEYS[i], 0, "NX", "EX", timeout)
    local count = redis.call("INCR", KEYS[i])
    if count > tonumber(arg) then
      if kind == "count-uncounted" then
        redis.call("DECR", KEYS[i])
      end
      refused, found = i, count
    end
  elseif not redis.call("SET", KEYS[i], arg, "NX", "EX", timeout) then
    refused, found = i, redis.call("GET", KEYS[i])
  end
end
if refused == 0 and scopes > 0 then
  for _, key in ipairs(counted) do
    redis.call("SET", KEYS[key], 0, "NX", "EX", ARGV[g + 3])
    redis.call("INCR", KEYS[key])
  end
end
local read = false
if reading == 1 then
  read = redis.call("GET", KEYS[steps + 1])
end
return {refused, found, read, report}
"""


def take_in_one_trip(
    cache: BaseCache,
    steps: Sequence[Count | Hold],
    read: str | None = None,
    watch: Watch | None = None,
) -> tuple[Refusal | None, Any, list[Judgement]] | None:
    """Take ``steps`` in order until one refuses, and read the key ``read``, in one trip.

    The pumping guard's ``watch`` is judged first (a suspected scope over its
    minute's allowance refuses before any step is taken); its scopes' codes
    sent are counted only when every step passed. Returns the refusal (or
    ``None``), the value read (``None`` if missing or not asked for) and the
    guard's judgements; or ``None`` itself when ``cache`` is not Django's Redis cache.
    """
    if not isinstance(cache, RedisCache):
        return None
    client = redis_client(cache)
    serializer = cache._cache._serializer  # type: ignore[attr-defined]  # the values' own form
    keys = [cache.make_key(step.key) for step in steps]
    args: list[Any] = [len(steps), 1 if read is not None else 0]
    for step in steps:
        if isinstance(step, Count):
            kind = "count-uncounted" if step.refused_uncounted else "count"
            args += [kind, step.timeout, step.limit]
        else:
            args += ["hold", step.timeout, serializer.dumps(step.value)]
    if read is not None:
        keys.append(cache.make_key(read))
    if watch is not None:
        width = len(watch.scopes[0].sent) if watch.scopes else 0
        args += [len(watch.scopes), width, repr(float(watch.min_conversion))]
        args += [watch.bucket_timeout, watch.episode_timeout, watch.mark]
        for scope in watch.scopes:
            keys += [cache.make_key(k) for k in (*scope.sent, *scope.verified)]
            keys += [cache.make_key(scope.refused), cache.make_key(scope.episode)]
            args += [scope.min_sent, scope.tightened, 1 if scope.skipped_after_suspected else 0]
    refused, found, value, report = client.eval(_SCRIPT, len(keys), *keys, *args)
    value = None if value is None else serializer.loads(value)
    judgements = _judgements(watch, report)
    if not refused:
        return None, value, judgements
    if refused > len(steps):
        assert watch is not None
        return Refusal(watch, watch.scopes[refused - len(steps) - 1].name), value, judgements
    step = steps[refused - 1]
    if isinstance(step, Hold) and found is not None:
        found = serializer.loads(found)
    return Refusal(step, found), value, judgements


def _judgements(watch: Watch | None, report: Sequence[int]) -> list[Judgement]:
    if watch is None:
        return []
    found = []
    for i, scope in enumerate(watch.scopes):
        judged, suspected, new, sent, verified = (int(v) for v in report[5 * i : 5 * i + 5])
        found.append(Judgement(scope, bool(judged), bool(suspected), bool(new), sent, verified))
    return found


#: KEYS: the count to give one back to (if ARGV[1] is "1"), then counts to add
#: one to, made with the timeout ARGV[2] if missing.
_GIVE_BACK = """
local first = 1
if ARGV[1] == "1" then
  first = 2
  if redis.call("EXISTS", KEYS[1]) == 1 then
    redis.call("DECR", KEYS[1])
  end
end
for i = first, #KEYS do
  redis.call("SET", KEYS[i], 0, "NX", "EX", ARGV[2])
  redis.call("INCR", KEYS[i])
end
return false
"""


def give_back_in_one_trip(
    cache: BaseCache, key: str | None, count: Sequence[str] = (), timeout: int = 0
) -> bool:
    """Take one off the count at ``key`` if it still exists (its window may be over),
    and add one to each count of ``count`` (made to live ``timeout`` seconds), in one trip.

    False, having done nothing, when ``cache`` is not Django's Redis cache.
    """
    if not isinstance(cache, RedisCache):
        return False
    keys = [cache.make_key(k) for k in ([key] if key is not None else []) + list(count)]
    if keys:
        giving_back = "1" if key is not None else "0"
        redis_client(cache).eval(_GIVE_BACK, len(keys), *keys, giving_back, max(1, timeout))
    return True
