"""The provider throttle holds across processes through the shared (Redis) cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from django_sepsms.backends import throttle
from django_sepsms.exceptions import RateLimitedError

_SETUP = """
import django, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
from django.conf import settings
settings.CACHES["default"]["KEY_PREFIX"] = {prefix!r}
"""


def run_in_processes(body: str, count: int, *args: str) -> list[int]:
    """Run ``body`` in ``count`` Python processes at once, with Django set up on this
    run's cache keys; return the numbers they print."""
    root = Path(__file__).resolve().parent.parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = _SETUP.format(prefix=settings.CACHES["default"]["KEY_PREFIX"])
    script += textwrap.dedent(body)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, env=env, cwd=root
        )
        for _ in range(count)
    ]
    return [int(p.communicate(timeout=60)[0].strip()) for p in procs]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_020.0  # the start of a 5-second sub-window
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_plan_never_exceeds_the_limit_in_any_window() -> None:
    for count, period in [(120, 60), (5, 60), (2400, 60), (10, 1)]:
        window, per_window = throttle._plan(count, period)
        k = round(period / window)
        assert per_window * (k + 1) <= count
        assert per_window * k >= count * 0.6


def test_waits_for_the_next_window() -> None:
    clock = FakeClock()
    for _ in range(9):
        throttle.acquire("t", (120, 60), max_wait=10, sleep=clock.sleep, clock=clock)
    assert clock.slept == []
    throttle.acquire("t", (120, 60), max_wait=10, sleep=clock.sleep, clock=clock)
    assert len(clock.slept) == 1
    assert 0 < clock.slept[0] <= 5.01


def test_raises_when_the_wait_is_too_long() -> None:
    clock = FakeClock()
    for _ in range(5):  # a small limit admits a burst of all its requests
        throttle.acquire("otp", (5, 60), max_wait=1, sleep=clock.sleep, clock=clock)
    with pytest.raises(RateLimitedError) as info:
        throttle.acquire("otp", (5, 60), max_wait=1, sleep=clock.sleep, clock=clock)
    assert info.value.retry_after is not None
    assert 60 <= info.value.retry_after <= 61
    assert info.value.code == "local.throttled"
    assert clock.slept == []


def test_a_small_limit_frees_each_slot_a_period_after_its_use() -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    started = time.monotonic()
    for _ in range(3):
        throttle.acquire("tiny", (2, 1), max_wait=5, sleep=sleep)
    # Two went at once; the third waited for the first slot, held for 1 s (+1 s of rounding).
    assert slept
    assert 1.0 <= time.monotonic() - started <= 3.5


def test_can_be_turned_off() -> None:
    clock = FakeClock()
    with override_settings(SEPSMS={"THROTTLE": False}):
        for _ in range(50):
            throttle.acquire("off", (5, 60), max_wait=0, sleep=clock.sleep, clock=clock)
    assert clock.slept == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("limit", "tries", "now", "granted"),
    [
        # One 5-second sub-window of the send limit admits 9, whoever asks.
        ("(120, 60)", 10, "2000000000.0", 9),
        # The provider's 5 OTP sends a minute: 5 slots, whoever asks.
        ("contract.LIMIT_OTP_SEND_PER_IP", 3, "", 5),
    ],
)
def test_holds_across_processes(limit: str, tries: int, now: str, granted: int) -> None:
    """Four processes race for the slots of one limit through the shared cache."""
    body = f"""
        import time
        from django_sepsms import contract
        from django_sepsms.backends import throttle
        from django_sepsms.exceptions import RateLimitedError
        clock = (lambda: float(sys.argv[1])) if sys.argv[1] else time.time
        ok = 0
        for _ in range({tries}):
            try:
                throttle.acquire("race", {limit}, max_wait=0, clock=clock)
                ok += 1
            except RateLimitedError:
                pass
        print(ok)
        """
    assert sum(run_in_processes(body, 4, now)) == granted


@pytest.mark.slow
def test_otp_limits_hold_across_processes() -> None:
    """Four processes ask for codes for one number: the per-number cap counts them all."""
    body = """
        settings.SEPSMS = {**settings.SEPSMS, "OTP_RESEND_COOLDOWN": 0}
        from django_sepsms.otp import limits
        ok = 0
        for raw in ("66812345678", "66812345678", "66812345678"):
            try:
                limits.check_send(raw, "198.51.100." + str(os.getpid() % 200))
                ok += 1
            except limits.OtpRateLimited:
                pass
        print(ok)
        """
    assert sum(run_in_processes(body, 4)) == 3  # otp_send_phone = "3/10m", whoever asks


def test_several_limits_are_taken_together_or_not_at_all() -> None:
    """One request of two limits: while one has no room, the other is not spent."""
    clock = FakeClock()
    for _ in range(5):
        throttle.acquire_all(
            [("all", (120, 60)), ("otp", (5, 60))], max_wait=0, sleep=clock.sleep, clock=clock
        )
    with pytest.raises(RateLimitedError) as info:
        throttle.acquire_all(
            [("all", (120, 60)), ("otp", (5, 60))], max_wait=0, sleep=clock.sleep, clock=clock
        )
    assert 60 <= (info.value.retry_after or 0) <= 61
    # The refused request took nothing of the larger limit: 4 of its 9 are left.
    for _ in range(4):
        throttle.acquire("all", (120, 60), max_wait=0, sleep=clock.sleep, clock=clock)
    with pytest.raises(RateLimitedError):
        throttle.acquire("all", (120, 60), max_wait=0, sleep=clock.sleep, clock=clock)


def test_other_caches_take_the_limits_one_by_one() -> None:
    """Without Redis's scripts the same limits hold, with ``add()`` and ``incr()``."""
    local = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": f"throttle-{time.time_ns()}",
    }
    caches = {"default": local}
    clock = FakeClock()
    with override_settings(CACHES=caches):
        for _ in range(9):
            throttle.acquire_all(
                [("all", (2400, 60)), ("send", (120, 60))],
                max_wait=0,
                sleep=clock.sleep,
                clock=clock,
            )
        with pytest.raises(RateLimitedError):
            throttle.acquire_all(
                [("all", (2400, 60)), ("send", (120, 60))],
                max_wait=0,
                sleep=clock.sleep,
                clock=clock,
            )
        throttle.acquire_all(
            [("all", (2400, 60)), ("send", (120, 60))], max_wait=6, sleep=clock.sleep, clock=clock
        )
        assert len(clock.slept) == 1
        for _ in range(2):
            throttle.acquire("otp", (2, 1), max_wait=0, sleep=clock.sleep, clock=clock)
        with pytest.raises(RateLimitedError):
            throttle.acquire("otp", (2, 1), max_wait=0, sleep=clock.sleep, clock=clock)
