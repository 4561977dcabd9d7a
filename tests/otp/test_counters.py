"""The limits of a code request in one round trip of Redis, and one by one elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings
from django_ratelimit.core import get_usage

from django_sepsms.exceptions import OtpRateLimited
from django_sepsms.otp import limits
from django_sepsms.otp.timing import samples_source
from tests.counting import cache_round_trips, counting_caches

RATES = {
    "otp_send_ip": "5/h",
    "otp_send_phone": "3/h",
    "otp_send_phone_daily": "10/d",
    "otp_send_global": "100/h",
    "otp_verify_ip": "6/h",
    "otp_verify_phone": "3/h",
}
LOCMEM_CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture(params=["redis", "locmem"])
def cache_kind(request: Any) -> Iterator[str]:
    """The limits on Redis (one script) and on a cache without scripts (one call each)."""
    config = {**settings.SEPSMS, "RATELIMITS": RATES, "OTP_RESEND_COOLDOWN": 60}
    if request.param == "redis":
        with override_settings(SEPSMS=config), counting_caches():
            yield request.param
    else:
        with override_settings(SEPSMS=config, CACHES=LOCMEM_CACHES):
            caches["default"].clear()
            yield request.param


def used(name: str, value: str) -> int:
    """How many requests django-ratelimit's own counter holds for ``name`` and ``value``."""
    usage = get_usage(
        None,
        group=f"sepsms.{name}",
        key=lambda group, request: value,
        rate=RATES[name],
        increment=False,
    )
    assert usage is not None
    return int(usage["count"])


def attempt(phone: str, ip: str = "198.51.100.7") -> str:
    try:
        limits.check_send(phone, ip)
    except OtpRateLimited as exc:
        return exc.limit
    return "ok"


def test_requests_count_in_django_ratelimits_own_buckets(cache_kind: str) -> None:
    """Both ways count where ``get_usage`` looks: one bucket, whichever way counted."""
    for n in range(3):
        assert attempt(f"6681234567{n}") == "ok"
    assert used("otp_send_ip", "198.51.100.7") == 3
    assert used("otp_send_phone", "66812345670") == 1
    assert used("otp_send_global", "all") == 3


def test_a_refusal_leaves_the_later_limits_untouched(cache_kind: str) -> None:
    """Asking again inside the cooldown is refused by it, and costs the number nothing more."""
    assert attempt("66812345678") == "ok"
    assert [attempt("66812345678") for _ in range(4)] == ["otp_resend_cooldown"] * 4
    assert used("otp_send_ip", "198.51.100.7") == 5  # counted before the cooldown
    assert used("otp_send_phone", "66812345678") == 1
    assert used("otp_send_global", "all") == 1
    # The client's network is counted first, and its refusal stops the rest.
    assert attempt("66812345679") == "otp_send_ip"
    assert used("otp_send_phone", "66812345679") == 0
    assert limits.cooldown_remaining("66812345679") == 0


def test_a_refusal_says_how_long_to_wait(cache_kind: str) -> None:
    assert attempt("66812345678") == "ok"
    with pytest.raises(OtpRateLimited) as refused:
        limits.check_send("66812345678", "198.51.100.8")
    assert 59 <= refused.value.retry_after <= 61
    assert 59 <= limits.cooldown_remaining("66812345678") <= 61


def test_the_answer_times_are_read_in_the_same_round_trip(cache_kind: str) -> None:
    alias, key = samples_source("send")
    caches[alias].set(key, [(1.0, 0.5)], timeout=60)
    with cache_round_trips() as trips:
        assert limits.check_send("66812345678", "198.51.100.7", read=(alias, key)) == [(1.0, 0.5)]
    if cache_kind == "redis":
        assert trips == ["EVAL"]


def check(phone: str, ip: str = "198.51.100.7") -> Any:
    try:
        return limits.check_verify(phone, ip)
    except OtpRateLimited as exc:
        return exc.limit


def test_wrong_codes_are_counted_in_advance_and_a_refusal_is_not(cache_kind: str) -> None:
    attempts = [check("66812345678") for _ in range(3)]
    assert check("66812345678") == "otp_verify_phone"  # not counted: no longer locked out
    attempts[0].forgive()  # that code was right
    assert not isinstance(check("66812345678"), str)
    assert check("66812345678") == "otp_verify_phone"
    assert used("otp_verify_ip", "198.51.100.7") == 6
    # The client's network is counted first, and its refusal stops the rest.
    assert check("66898765432") == "otp_verify_ip"
    assert check("66898765432", "198.51.100.8") != "otp_verify_phone"


def test_a_check_reads_the_answer_times_in_the_same_round_trip(cache_kind: str) -> None:
    alias, key = samples_source("verify")
    caches[alias].set(key, [(1.0, 0.5)], timeout=60)
    with cache_round_trips() as trips:
        attempt = limits.check_verify("66812345678", "198.51.100.7", read=(alias, key))
    assert attempt.recent == [(1.0, 0.5)]
    if cache_kind == "redis":
        assert trips == ["EVAL"]
