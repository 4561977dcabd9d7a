"""Every answer of a phone flow, real or decoy, ends at one deadline (rule 3 of :mod:`.flows`)."""

from __future__ import annotations

import random
import time
from typing import Any

from django.core.cache import caches

from ..conf import sepsms_settings

_TIMING_KEY = "sepsms:timing:{}:samples"
#: Recent real durations kept per step; every answer waits as long as the slowest.
_SAMPLES_KEPT = 50
#: Seconds a recorded duration counts for: a slow spell stops slowing answers after it.
_SAMPLE_LIFETIME = 120.0
#: No recorded duration counts for more than this (seconds).
_LONGEST_SAMPLE = 30.0
#: The random part of the answer target, as a share of OTP_MIN_ANSWER_TIME.
_JITTER = 0.25


def _timing_cache() -> Any:
    """The cache the durations are shared in (``SEPSMS["CACHE"]``), across processes."""
    return caches[sepsms_settings.CACHE]


def _target(samples: list[tuple[float, float]]) -> float:
    """Seconds after the start when an answer is due, at the earliest."""
    floor = sepsms_settings.OTP_MIN_ANSWER_TIME
    slowest = max((duration for _, duration in samples), default=0.0)
    return max(floor, slowest) + floor * _JITTER * random.random()


#: ``recent`` when the caller read nothing: the durations are read here.
_UNREAD: Any = object()


def samples_source(step: str) -> tuple[str, str]:
    """The cache alias and key the recent durations of ``step`` are kept under, for a
    caller that reads them early (with the limits: ``limits.check_send(read=...)``)."""
    return sepsms_settings.CACHE, _TIMING_KEY.format(step)


def _samples(key: str, recent: Any = _UNREAD) -> list[tuple[float, float]]:
    """The recent ``(wall-clock time, duration)`` pairs of real requests."""
    value = _timing_cache().get(key) if recent is _UNREAD else recent
    if not isinstance(value, list):
        return []
    since = time.time() - _SAMPLE_LIFETIME
    return [
        (float(item[0]), float(item[1]))
        for item in value
        if isinstance(item, list | tuple)
        and len(item) == 2
        and all(isinstance(v, int | float) for v in item)
        and item[0] >= since
    ]


def _sleep_until(deadline: float) -> None:
    wait = deadline - time.monotonic()
    if wait > 0:
        time.sleep(wait)


def answer_real(step: str, started: float, recent: Any = _UNREAD) -> None:
    """Wait for the target, then record how long the real work took.

    The cache is read before the wait and written after it, as a decoy does;
    ``recent`` is what the caller read from :func:`samples_source`, if it did.
    """
    key = _TIMING_KEY.format(step)
    samples = _samples(key, recent)
    worked = time.monotonic() - started  # the read counts: a decoy's includes it
    _sleep_until(started + _target(samples))
    samples.append((time.time(), min(worked, _LONGEST_SAMPLE)))
    _timing_cache().set(key, samples[-_SAMPLES_KEPT:], timeout=int(_SAMPLE_LIFETIME))


def answer_decoy(step: str, started: float, recent: Any = _UNREAD) -> None:
    """Wait for the very target a real ``step`` waits for (``recent``: as for
    :func:`answer_real`)."""
    key = _TIMING_KEY.format(step)
    samples = _samples(key, recent)
    _sleep_until(started + _target(samples))
    # The same write as a real answer's (a list as long, to a key of its own).
    _timing_cache().set(key + ":echo", samples[-_SAMPLES_KEPT:], timeout=int(_SAMPLE_LIFETIME))


def pause_like(step: str, recent: Any = _UNREAD) -> None:
    """Take as long as a real ``step`` would, from now: for answers that check nothing
    (``recent``: as for :func:`answer_real`)."""
    answer_decoy(step, time.monotonic(), recent)
