"""The pumping guard: codes sent that nobody verifies tighten sending, by themselves.

SMS pumping sends codes to numbers that never use them (the attacker shares
the fees of the numbers' operator). Its mark is conversion: the codes verified
over the codes sent. The guard keeps both, per minute, for two kinds of scope,
the whole site and each range of numbers (``PREFIX_DIGITS`` digits after the
country code: ``"6681"``), in counters of the limits' shared cache. A code
request's scopes are judged and counted in the limits' own round trip of Redis
(:func:`~django_sepsms.otp.counters.take_in_one_trip`); a verified code of the
phone flows adds one to its scopes in the round trip that forgives its attempt.

A scope is *suspected* while, over the last ``WINDOW_MINUTES``, it has sent at
least its ``MIN_SENT`` codes and verified fewer than ``MIN_CONVERSION`` of
them. A suspected scope still sends its ``TIGHTENED_PER_MINUTE`` codes a minute,
plus two for each code it verifies a minute on average; past that a request
gets the limits' answer (:class:`~django_sepsms.exceptions.OtpRateLimited`,
``limit="otp_pumping_guard"``, retry when the minute ends). The range is judged
first: while it is suspected, its requests are left out of the site's figures,
so one range under attack does not slow the others. A scope recovers as soon as
its figures do: its verified codes bring conversion back, or the attack's
codes leave the window.

Every request counts, decoys too (a number that gets no SMS counts as one that
does): what the guard does never tells an attacker which numbers are real.
An *episode* starts when a scope is first suspected and ends once it has not
been for a whole window; its start sends :data:`~django_sepsms.signals.pumping_suspected`
and logs one ``WARNING``, once however many processes see it.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.checks import ERROR, CheckMessage, Error, Warning

from .. import contract
from ..conf import DEFAULT_PUMPING_GUARD, sepsms_settings
from ..signals import pumping_suspected, send_now
from .counters import Judgement, Scope, Watch, allowance

logger = logging.getLogger("django_sepsms")

#: The limit a tightened scope's refusals name (``OtpRateLimited.limit``).
LIMIT_NAME = "otp_pumping_guard"
SITE = "site"
_KEY = "sepsms:pumping:{scope}:{kind}"
#: Seconds a bucket outlives its window.
_FUDGE = 5
#: Settings, the smallest and largest value each may take.
_BOUNDS: dict[str, tuple[float, float]] = {
    "WINDOW_MINUTES": (1, 24 * 60),
    "PREFIX_DIGITS": (1, 3),
    "MIN_CONVERSION": (0.0, 1.0),
    "MIN_SENT": (1, 10**9),
    "TIGHTENED_PER_MINUTE": (1, 10**9),
    "SITE_MIN_SENT": (1, 10**9),
    "SITE_TIGHTENED_PER_MINUTE": (1, 10**9),
}


def _cache() -> Any:
    """The limits' cache (``RATELIMIT_USE_CACHE``), shared by every process."""
    return caches[str(getattr(settings, "RATELIMIT_USE_CACHE", "default"))]


def _config() -> dict[str, Any] | None:
    """The guard's settings; the defaults when they are not understood (``sepsms.E018``
    says why): only ``None`` turns the guard off."""
    config = sepsms_settings.PUMPING_GUARD
    if config is None:
        return None
    if any(message.level >= ERROR for message in check_guard_settings()):
        return dict(DEFAULT_PUMPING_GUARD)
    return config


def range_of(phone: str, digits: int) -> str:
    """The range a normalised number is counted in: ``"66812345678"`` → ``"6681"``."""
    return phone[: len(contract.COUNTRY_CODE) + digits]


def _bucket(scope: str, kind: str, minute: int) -> str:
    return _KEY.format(scope=scope, kind=kind) + f":{minute}"


def _scope(name: str, config: dict[str, Any], minute: int, *, site: bool) -> Scope:
    window = range(minute, minute - int(config["WINDOW_MINUTES"]), -1)
    prefix = "SITE_" if site else ""
    return Scope(
        name=name,
        sent=tuple(_bucket(name, "sent", m) for m in window),
        verified=tuple(_bucket(name, "verified", m) for m in window),
        refused=_bucket(name, "refused", minute),
        episode=_KEY.format(scope=name, kind="episode"),
        min_sent=int(config[prefix + "MIN_SENT"]),
        tightened=int(config[prefix + "TIGHTENED_PER_MINUTE"]),
        skipped_after_suspected=site,
    )


def watch_for(phone: str) -> Watch | None:
    """What the guard judges and counts for a code request to ``phone`` (``None``: off)."""
    config = _config()
    if config is None:
        return None
    now = int(time.time())
    minute = now // 60
    width = int(config["WINDOW_MINUTES"])
    scopes = (
        _scope(range_of(phone, int(config["PREFIX_DIGITS"])), config, minute, site=False),
        _scope(SITE, config, minute, site=True),
    )
    return Watch(
        name=LIMIT_NAME,
        scopes=scopes,
        min_conversion=float(config["MIN_CONVERSION"]),
        bucket_timeout=(width + 1) * 60 + _FUDGE,
        episode_timeout=width * 60,
        mark=now,
        time_left=60 - now % 60,
    )


def judge_one_by_one(watch: Watch) -> tuple[str | None, list[Judgement]]:
    """The Lua script's judgement, on a cache without scripts: the refusing scope, if any."""
    cache = _cache()
    width = len(watch.scopes[0].sent)
    keys = [k for scope in watch.scopes for k in (*scope.sent, *scope.verified)]
    counts = cache.get_many(keys)
    refused: str | None = None
    judgements: list[Judgement] = []
    before = False
    for scope in watch.scopes:
        if scope.skipped_after_suspected and before:
            judgements.append(Judgement(scope, False, False, False, 0, 0))
            continue
        sent = sum(int(counts.get(k) or 0) for k in scope.sent)
        verified = sum(int(counts.get(k) or 0) for k in scope.verified)
        suspected = sent >= scope.min_sent and verified < watch.min_conversion * sent
        new = False
        if suspected:
            new = cache.add(scope.episode, watch.mark, timeout=watch.episode_timeout)
            if not new:
                cache.touch(scope.episode, timeout=watch.episode_timeout)
            now = int(counts.get(scope.sent[0]) or 0)
            if refused is None and now >= allowance(scope, verified, width):
                refused = scope.name
                _add_one(scope.refused, watch.bucket_timeout)
        judgements.append(Judgement(scope, True, suspected, new, sent, verified))
        before = suspected
    return refused, judgements


def count_one_by_one(watch: Watch, judgements: Sequence[Judgement]) -> None:
    """Count a code request that every limit let through (the script's last part)."""
    for judgement in judgements:
        if judgement.judged:
            _add_one(judgement.scope.sent[0], watch.bucket_timeout)


def _add_one(key: str, timeout: int) -> None:
    cache = _cache()
    if not cache.add(key, 1, timeout=timeout):
        try:
            cache.incr(key)
        except ValueError:  # expired between the two
            cache.add(key, 1, timeout=timeout)


@dataclass(frozen=True)
class VerifiedCounts:
    """The counters a verified code adds one to, and how long a new one lives."""

    keys: tuple[str, ...]
    timeout: int


def verified_counts(phone: str) -> VerifiedCounts | None:
    """The buckets of ``phone``'s scopes that count a code verified now (``None``: off)."""
    config = _config()
    if config is None:
        return None
    minute = int(time.time()) // 60
    scope = range_of(phone, int(config["PREFIX_DIGITS"]))
    keys = (_bucket(scope, "verified", minute), _bucket(SITE, "verified", minute))
    return VerifiedCounts(keys, (int(config["WINDOW_MINUTES"]) + 1) * 60 + _FUDGE)


def count_verified_one_by_one(counts: VerifiedCounts) -> None:
    for key in counts.keys:
        _add_one(key, counts.timeout)


def announce(watch: Watch, judgements: Sequence[Judgement]) -> None:
    """Log and signal each episode that starts with this request (once per episode)."""
    width = len(watch.scopes[0].sent)
    for judgement in judgements:
        if not judgement.new_episode:
            continue
        scope = judgement.scope
        conversion = judgement.verified / judgement.sent if judgement.sent else 0.0
        per_minute = allowance(scope, judgement.verified, width)
        logger.warning(
            "SMS pumping suspected (%s): %d codes sent and %d verified (%.0f%%) in the "
            "last %d minutes; sending there is held to %d codes a minute",
            scope_label(scope.name),
            judgement.sent,
            judgement.verified,
            100 * conversion,
            width,
            per_minute,
        )
        send_now(
            pumping_suspected,
            None,
            scope=scope.name,
            sent=judgement.sent,
            verified=judgement.verified,
            conversion=conversion,
            window_minutes=width,
            per_minute=per_minute,
            started_at=datetime.fromtimestamp(watch.mark, tz=UTC),
        )


def scope_label(scope: str) -> str:
    """``"site"`` → ``"the whole site"``, ``"6681"`` → ``"numbers +66 81…"``."""
    if scope == SITE:
        return "the whole site"
    code = contract.COUNTRY_CODE
    return f"numbers +{code} {scope[len(code) :]}…"


@dataclass(frozen=True)
class Episode:
    """A scope's episode, as the admin dashboard shows it."""

    scope: str
    started_at: datetime
    sent: int
    verified: int
    refused: int
    #: Still suspected now (an episode lasts a window after its scope recovers).
    suspected: bool
    per_minute: int
    window_minutes: int

    @property
    def is_site(self) -> bool:
        return self.scope == SITE

    @property
    def range_label(self) -> str:
        """The range as people write it: ``"+66 81"``."""
        code = contract.COUNTRY_CODE
        return f"+{code} {self.scope[len(code) :]}"

    @property
    def conversion_percent(self) -> int:
        return round(100 * self.verified / self.sent) if self.sent else 0


def episodes() -> list[Episode]:
    """The scopes whose episode is on, the site's first; two reads of the cache."""
    config = _config()
    if config is None:
        return []
    cache = _cache()
    digits = int(config["PREFIX_DIGITS"])
    names = [SITE] + [
        contract.COUNTRY_CODE + "".join(d) for d in itertools.product("0123456789", repeat=digits)
    ]
    marks = cache.get_many([_KEY.format(scope=name, kind="episode") for name in names])
    minute = int(time.time()) // 60
    on = [
        (_scope(name, config, minute, site=name == SITE), marks[key])
        for name in names
        if (key := _KEY.format(scope=name, kind="episode")) in marks
    ]
    if not on:
        return []
    width = int(config["WINDOW_MINUTES"])
    refused_window = range(minute, minute - width, -1)
    keys = [k for scope, _ in on for k in (*scope.sent, *scope.verified)]
    keys += [_bucket(scope.name, "refused", m) for scope, _ in on for m in refused_window]
    counts = cache.get_many(keys)
    found = []
    least = float(config["MIN_CONVERSION"])
    for scope, mark in on:
        sent = sum(int(counts.get(k) or 0) for k in scope.sent)
        verified = sum(int(counts.get(k) or 0) for k in scope.verified)
        refused = sum(
            int(counts.get(_bucket(scope.name, "refused", m)) or 0) for m in refused_window
        )
        found.append(
            Episode(
                scope=scope.name,
                started_at=datetime.fromtimestamp(int(mark), tz=UTC),
                sent=sent,
                verified=verified,
                refused=refused,
                suspected=sent >= scope.min_sent and verified < least * sent,
                per_minute=allowance(scope, verified, width),
                window_minutes=width,
            )
        )
    return found


def check_guard_settings() -> list[CheckMessage]:
    """The system checks of ``SEPSMS["PUMPING_GUARD"]`` (``sepsms.E018``, ``sepsms.W011``)."""
    raw = sepsms_settings.get("PUMPING_GUARD")
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [
            Error(
                "SEPSMS['PUMPING_GUARD'] must be a dict of settings, or None to turn it off.",
                id="sepsms.E018",
            )
        ]
    messages: list[CheckMessage] = []
    unknown = sorted(str(k) for k in raw if k not in DEFAULT_PUMPING_GUARD)
    if unknown:
        messages.append(
            Warning(
                f"Unknown SEPSMS['PUMPING_GUARD'] setting(s): {', '.join(unknown)}.",
                hint="Check the spelling against the settings reference.",
                id="sepsms.W011",
            )
        )
    for name, (low, high) in _BOUNDS.items():
        value = raw.get(name, DEFAULT_PUMPING_GUARD[name])
        whole = name != "MIN_CONVERSION"
        kind_ok = isinstance(value, int) if whole else isinstance(value, int | float)
        if isinstance(value, bool) or not kind_ok or not low <= value <= high:
            between = f"{low:g} and {high:g}"
            messages.append(
                Error(
                    f"SEPSMS['PUMPING_GUARD']['{name}'] = {value!r} must be "
                    f"{'a whole number' if whole else 'a number'} between {between}.",
                    id="sepsms.E018",
                )
            )
    return messages
