"""Limits on sending and checking codes, shared by every process through the cache.

Built on django-ratelimit's counters (``django_ratelimit.core.get_usage``) with
keys made from the normalised number, so ``0812345678`` and ``+66 81 234 5678``
share one bucket whether they arrive in a form or in JSON. The cache is
django-ratelimit's (``RATELIMIT_USE_CACHE``, default ``"default"``): use a
shared one (Redis) in production.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from .conf import sepsms_settings
from .exceptions import OtpError

_UNKNOWN_IP = "unknown"


class OtpRateLimited(OtpError):
    """Over a limit: nothing was sent or checked. ``retry_after`` is in seconds."""

    def __init__(self, limit: str, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"Over the {limit} limit; retry in {self.retry_after}s.")


def client_ip(request: HttpRequest | None) -> str:
    """The client's address: ``REMOTE_ADDR``, or, behind ``TRUSTED_PROXIES``, the
    nearest ``X-Forwarded-For`` entry that is not one of those proxies."""
    if request is None:
        return _UNKNOWN_IP
    remote = str(request.META.get("REMOTE_ADDR") or _UNKNOWN_IP)
    proxies = _networks(tuple(sepsms_settings.TRUSTED_PROXIES))
    if not proxies or not _inside(remote, proxies):
        return remote
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
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
    return any(address in network for network in networks)


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


def _cache() -> Any:
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


def check_send(phone: str, ip: str) -> None:
    """Count one code request; raise :class:`OtpRateLimited` if any limit is passed.

    Unknown numbers are counted exactly like known ones, so the answers never
    tell them apart.
    """
    _hit("otp_send_ip", ip)
    cooldown = sepsms_settings.OTP_RESEND_COOLDOWN
    if cooldown > 0:
        key = f"sepsms:cooldown:{phone}"
        until = time.time() + cooldown
        if not _cache().add(key, until, timeout=cooldown):
            remaining = float(_cache().get(key) or until) - time.time()
            raise OtpRateLimited("otp_resend_cooldown", int(remaining) + 1)
    _hit("otp_send_phone", phone)
    _hit("otp_send_phone_daily", phone)
    _hit("otp_send_global", "all")


def release_cooldown(phone: str) -> None:
    """Let the number ask again at once (its code could not be sent)."""
    _cache().delete(f"sepsms:cooldown:{phone}")


def cooldown_remaining(phone: str) -> int:
    """Seconds until the next code may be sent to ``phone`` (0 when it may now)."""
    until = _cache().get(f"sepsms:cooldown:{phone}")
    return max(0, int(float(until) - time.time()) + 1) if until else 0


def check_verify(phone: str, ip: str) -> None:
    """Count one verification attempt; refuse when the number or client is locked out."""
    _hit("otp_verify_ip", ip)
    usage = _usage("otp_verify_phone", phone, increment=False)
    if usage is not None and usage["count"] >= usage["limit"]:
        raise OtpRateLimited("otp_verify_phone", usage["time_left"])


def count_failure(phone: str) -> None:
    """Count a wrong code against the number, whatever reference it was for."""
    _usage("otp_verify_phone", phone, increment=True)
