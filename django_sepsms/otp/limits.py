"""Limits on sending and checking codes, shared by every process through the cache.

Built on django-ratelimit's counters (``django_ratelimit.core.get_usage``) with
keys made from the normalised number, so ``0812345678`` and ``+66 81 234 5678``
share one bucket whether they arrive in a form or in JSON. The wrong codes of
a number are counted here, in the same fixed windows, before each check (see
:func:`check_verify`). The cache is django-ratelimit's (``RATELIMIT_USE_CACHE``,
default ``"default"``): use a shared one (Redis) in production.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import time
import zlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit.core import (
    EXPIRATION_FUDGE,
    _get_window,
    _make_cache_key,
    get_usage,
)
from django_ratelimit.core import _split_rate as _ratelimit_split_rate

from ..conf import sepsms_settings
from ..exceptions import OtpRateLimited
from . import pumping
from .counters import Count, Hold, Refusal, Watch, give_back_in_one_trip, take_in_one_trip

_UNKNOWN_IP = "unknown"

#: The name of the limit that holds a number between two codes (``OTP_RESEND_COOLDOWN``).
COOLDOWN = "otp_resend_cooldown"
#: The limits on checking codes (the others are on sending them).
VERIFY_LIMITS = frozenset({"otp_verify_phone", "otp_verify_ip"})


def client_ip(request: HttpRequest | None) -> str:
    """The client's address: ``REMOTE_ADDR``, or, behind ``TRUSTED_PROXIES``, the
    nearest ``X-Forwarded-For`` entry that is not one of those proxies."""
    if request is None:
        return _UNKNOWN_IP
    remote = str(request.META.get("REMOTE_ADDR") or _UNKNOWN_IP)
    proxies = _networks(tuple(sepsms_settings.TRUSTED_PROXIES))
    if not proxies or not _inside(remote, proxies):
        return remote
    forwarded = str(request.headers.get("x-forwarded-for") or "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _valid_ip(hop):
            break
        if not _inside(hop, proxies):
            return hop
    return remote


def _networks(values: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _inside(ip: str, networks: list[Any]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    # An IPv4 proxy as a dual-stack server names it (::ffff:10.0.0.5) is that IPv4 proxy.
    mapped = getattr(address, "ipv4_mapped", None)
    return any(address in network or (mapped and mapped in network) for network in networks)


def _network(ip: str) -> str:
    """The network a client address is counted as, as django-ratelimit counts them:
    ``RATELIMIT_IPV6_MASK`` (64) bits of an IPv6 address, ``RATELIMIT_IPV4_MASK`` (32)
    of an IPv4 one (also when written as IPv6, ``::ffff:192.0.2.1``, as dual-stack
    servers do). Whoever has one IPv6 address usually has its whole /64."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        address = address.ipv4_mapped or ipaddress.IPv6Address(int(address))  # no %scope
    name = "RATELIMIT_IPV6_MASK" if address.version == 6 else "RATELIMIT_IPV4_MASK"
    bits = getattr(settings, name, 64 if address.version == 6 else 32)
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False).network_address)


def _usage(name: str, value: str, *, increment: bool) -> dict[str, Any] | None:
    rate = sepsms_settings.RATELIMITS.get(name)
    if not rate:
        return None
    key: Callable[[str, Any], str] = lambda group, request: value  # noqa: E731
    return get_usage(None, group=f"sepsms.{name}", key=key, rate=rate, increment=increment)


def _hit(name: str, value: str) -> None:
    usage = _usage(name, value, increment=True)
    if usage is not None and usage["should_limit"]:
        raise OtpRateLimited(name, usage["time_left"])


def _cache_alias() -> str:
    return str(getattr(settings, "RATELIMIT_USE_CACHE", "default"))


def _cache() -> Any:
    return caches[_cache_alias()]


def check_send(
    phone: str, ip: str, *, read: tuple[str, str] | None = None, guarded: bool = True
) -> Any:
    """Count one code request; raise :class:`OtpRateLimited` if any limit is passed.

    Unknown numbers are counted exactly like known ones, so the answers never
    tell them apart. The pumping guard (:mod:`.pumping`) judges the request
    first and counts it last (``guarded=False``: not, for codes checked by
    another app, whose verified codes the guard never hears of). On Redis
    every limit is taken in one round trip (:mod:`.counters`); ``read``, a
    cache alias and a key, is read in that same trip when it is the limits'
    cache (else after them), and its value returned.
    """
    alias, key = read if read is not None else (None, None)
    same_cache = alias == _cache_alias()
    watch = pumping.watch_for(phone) if guarded else None
    steps = _send_steps(phone, ip)
    taken = take_in_one_trip(_cache(), steps, key if same_cache else None, watch)
    if taken is None:
        _check_send_one_by_one(phone, ip, watch)
    else:
        refusal, value, judgements = taken
        if watch is not None:
            pumping.announce(watch, judgements)
        if refusal is not None:
            raise _refused(refusal)
        if same_cache:
            return value
    return caches[alias].get(key) if alias is not None and key is not None else None


def _send_steps(phone: str, ip: str) -> list[Count | Hold]:
    """What :func:`check_send` takes, in order: the client's network, the number's
    cooldown, the number's two limits and the site's."""
    cooldown = sepsms_settings.OTP_RESEND_COOLDOWN
    hold = Hold(COOLDOWN, _cooldown_key(phone), time.time() + cooldown, cooldown)
    steps = [
        _count("otp_send_ip", _network(ip)),
        hold if cooldown > 0 else None,
        _count("otp_send_phone", phone),
        _count("otp_send_phone_daily", phone),
        _count("otp_send_global", "all"),
    ]
    return [step for step in steps if step is not None]


def _count(name: str, value: str) -> Count | None:
    """The counter django-ratelimit's ``get_usage`` would count for ``name`` and ``value``."""
    rate = sepsms_settings.RATELIMITS.get(name)
    if not rate or not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    limit, period = _ratelimit_split_rate(rate)
    window = _get_window(value, period)
    key = _make_cache_key(f"sepsms.{name}", window, rate, value, ALL)
    return Count(name, key, limit, period + EXPIRATION_FUDGE, window - int(time.time()))


def _refused(refusal: Refusal) -> OtpRateLimited:
    step = refusal.step
    if isinstance(step, Watch):
        return OtpRateLimited(step.name, step.time_left)
    if isinstance(step, Hold):
        remaining = float(refusal.found or step.value) - time.time()
        return OtpRateLimited(step.name, int(remaining) + 1)
    return OtpRateLimited(step.name, step.time_left)


def _check_send_one_by_one(phone: str, ip: str, watch: Watch | None) -> None:
    """:func:`check_send` on a cache without scripts: one call per limit."""
    if watch is not None:
        refused, judgements = pumping.judge_one_by_one(watch)
        pumping.announce(watch, judgements)
        if refused is not None:
            raise OtpRateLimited(watch.name, watch.time_left)
    _check_send_steps_one_by_one(phone, ip)
    if watch is not None:
        pumping.count_one_by_one(watch, judgements)


def _check_send_steps_one_by_one(phone: str, ip: str) -> None:
    _hit("otp_send_ip", _network(ip))
    cooldown = sepsms_settings.OTP_RESEND_COOLDOWN
    if cooldown > 0:
        key = _cooldown_key(phone)
        until = time.time() + cooldown
        if not _cache().add(key, until, timeout=cooldown):
            remaining = float(_cache().get(key) or until) - time.time()
            raise OtpRateLimited(COOLDOWN, int(remaining) + 1)
    _hit("otp_send_phone", phone)
    _hit("otp_send_phone_daily", phone)
    _hit("otp_send_global", "all")


def _cooldown_key(phone: str) -> str:
    return f"sepsms:cooldown:{phone}"


def release_cooldown(phone: str) -> None:
    """Let the number ask again at once (its code could not be sent)."""
    _cache().delete(_cooldown_key(phone))


def cooldown_remaining(phone: str) -> int:
    """Seconds until the next code may be sent to ``phone`` (0 when it may now)."""
    until = _cache().get(_cooldown_key(phone))
    return max(0, int(float(until) - time.time()) + 1) if until else 0


def check_verify(phone: str, ip: str, *, read: tuple[str, str] | None = None) -> VerifyAttempt:
    """Count one verification attempt; refuse when the number or client is locked out.

    The attempt is counted against ``otp_verify_phone`` as a wrong code
    *before* the code is checked, in one atomic step of the shared cache, and
    refused (and not counted) when that passes the limit: however many checks
    for one number arrive at once, in however many processes, no more than the
    limit are ever checked. Call :meth:`VerifyAttempt.forgive` when the code
    turns out right. On Redis both limits take one round trip, which also
    reads ``read`` as :func:`check_send` does (:attr:`VerifyAttempt.recent`).
    """
    wrong = _wrong_codes(phone)
    steps = [step for step in (_count("otp_verify_ip", _network(ip)), wrong) if step is not None]
    alias, key = read if read is not None else (None, None)
    same_cache = alias == _cache_alias()
    taken = take_in_one_trip(_cache(), steps, key if same_cache else None)
    if taken is None:
        attempt = _check_verify_one_by_one(phone, ip)
    elif taken[0] is not None:
        raise _refused(taken[0])
    else:
        attempt = VerifyAttempt(wrong.key if wrong is not None else None)
    if taken is not None and same_cache:
        attempt.recent = taken[1]
    elif alias is not None and key is not None:
        attempt.recent = caches[alias].get(key)
    return attempt


def _wrong_codes(phone: str) -> Count | None:
    """The counter of a number's wrong codes, in django-ratelimit's fixed windows."""
    rate = sepsms_settings.RATELIMITS.get("otp_verify_phone")
    if not phone or not rate or not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    limit, period = _split_rate(rate)
    end = _window_end(phone, period)
    digest = hashlib.sha256(f"{rate}:{phone}:{end}".encode()).hexdigest()
    left = end - int(time.time())
    timeout = max(1, left) + _EXPIRY_FUDGE
    return Count("otp_verify_phone", f"sepsms:wrong-codes:{digest}", limit, timeout, left, True)


def _check_verify_one_by_one(phone: str, ip: str) -> VerifyAttempt:
    """:func:`check_verify` on a cache without scripts: one call per step."""
    _hit("otp_verify_ip", _network(ip))
    wrong = _wrong_codes(phone)
    if wrong is None:
        return VerifyAttempt(None)
    count = _increment(wrong.key, timeout=wrong.timeout)
    if count is None and getattr(settings, "RATELIMIT_FAIL_OPEN", False):
        return VerifyAttempt(None)
    if count is None or count > wrong.limit:
        if count is not None:
            _give_back(wrong.key)
        raise OtpRateLimited(wrong.name, wrong.time_left)
    return VerifyAttempt(wrong.key)


def _increment(key: str, timeout: int) -> int | None:
    """Add one to the count at ``key`` (made if missing) atomically; the new count,
    or ``None`` if the cache would not keep it."""
    cache = _cache()
    for _ in range(2):
        if cache.add(key, 1, timeout=timeout):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # it expired between the two: start it again
            continue
    return None


class VerifyAttempt:
    """A code check, counted in advance as a wrong code for its number."""

    def __init__(self, key: str | None) -> None:
        self._key = key
        #: The value of ``check_verify(read=...)``'s key, read with the limits.
        self.recent: Any = None

    def forgive(self, phone: str | None = None) -> None:
        """The code was right: it no longer counts as a wrong one; with ``phone``,
        the pumping guard counts a verified code (in the same round trip)."""
        verified = pumping.verified_counts(phone) if phone else None
        if self._key is not None or verified is not None:
            _give_back(self._key, verified)
            self._key = None


def _give_back(key: str | None, verified: pumping.VerifiedCounts | None = None) -> None:
    keys, timeout = (verified.keys, verified.timeout) if verified is not None else ((), 0)
    if give_back_in_one_trip(_cache(), key, keys, timeout):
        return
    if key is not None:
        with contextlib.suppress(ValueError):  # its window is over
            _cache().decr(key)
    if verified is not None:
        pumping.count_verified_one_by_one(verified)


#: Seconds a window's count outlives the window (as django-ratelimit's do).
_EXPIRY_FUDGE = 5
_PERIODS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60}


def _split_rate(rate: str) -> tuple[int, int]:
    """``"3/10m"`` → ``(3, 600)``: django-ratelimit's rate strings."""
    count, _, period = rate.partition("/")
    unit = period[-1:].lower() if period[-1:].isalpha() else "s"
    multiple = period[:-1] if period[-1:].isalpha() else period
    return int(count), _PERIODS[unit] * int(multiple or 1)


def _window_end(value: str, period: int) -> int:
    """When the current fixed window of ``value`` ends, with django-ratelimit's
    per-key offset (so all keys do not reset at once)."""
    now = int(time.time())
    if period == 1:
        return now
    end = now - now % period + zlib.crc32(value.encode()) % period
    return end + period if end < now else end
