"""The pumping guard under simulated attacks: a frozen clock, the API, many addresses.

Every attack here is a bot asking for codes to fresh numbers, from a new
address each time, and verifying none; genuine users ask for a code and type
it in a few seconds later. Both OTP modes, on Redis (the one script) and on
locmem (the plain calls), with the guard's defaults.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.checks import Error
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from freezegun import freeze_time

import django_sepsms
from django_sepsms.conf import DEFAULT_PUMPING_GUARD
from django_sepsms.exceptions import OtpRateLimited
from django_sepsms.otp import limits, pumping
from django_sepsms.otp.waits import wait_text
from django_sepsms.signals import pumping_suspected
from tests.counting import cache_round_trips, counting_caches
from tests.test_budgets import BACKENDS, CODE_REQUEST_ROUND_TRIPS

pytestmark = pytest.mark.django_db

# Imported now: a C extension imported under the frozen clock would see its fake dates.
with contextlib.suppress(ImportError):
    import django.contrib.postgres.forms  # noqa: F401

#: Room for every counter of an attack (locmem culls a third of its keys when full).
LOCMEM_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
#: A whole minute, so the first bucket is a whole one (the targets hold wherever it starts).
START = "2026-03-02 03:00:00"


@pytest.fixture(params=["local", "provider"])
def mode(request: Any) -> str:
    return str(request.param)


@pytest.fixture(params=["redis", "locmem"])
def guarded(request: Any, mode: str) -> Iterator[str]:
    """The guard on with its defaults, sign-up open (fresh numbers get real codes)."""
    config = {
        **settings.SEPSMS,
        "BACKEND": BACKENDS[mode],
        "OTP_MODE": mode,
        "PUMPING_GUARD": {},
        "LOGIN_CREATE_USERS": True,
    }
    if request.param == "redis":
        with override_settings(SEPSMS=config), counting_caches():
            yield request.param
    else:
        with override_settings(SEPSMS=config, CACHES=LOCMEM_CACHES):
            caches["default"].clear()
            yield request.param


@dataclass
class Site:
    """The API as bots and people use it, on a clock the test moves."""

    clock: Any
    outbox: list[Any]
    client: Client = field(default_factory=Client)
    addresses: Iterator[int] = field(default_factory=lambda: iter(range(1, 60000)))
    purpose: str = "verify"

    def address(self) -> str:
        n = next(self.addresses)
        return f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"

    def ask(self, phone: str) -> tuple[int, Any]:
        """Ask for a code from a new address: the status, and the code sent (or None)."""
        before = len(self.outbox)
        body = json.dumps({"phone": phone, "purpose": self.purpose})
        response = self.client.post(
            "/sepsms/api/otp/", body, content_type="application/json", REMOTE_ADDR=self.address()
        )
        sent = self.outbox[-1] if len(self.outbox) > before else None
        return response.status_code, (response.json(), sent) if sent else None

    def verify(self, answer: tuple[Any, Any]) -> bool:
        data, sent = answer
        code = re.search(r"\b(\d{6,8})\b", sent.message)
        assert code
        body = {"reference": data["reference"], "pin": code.group(1)}
        body["flow_token"] = data["flow_token"]
        response = self.client.post(
            "/sepsms/api/otp/verify/",
            json.dumps(body),
            content_type="application/json",
            REMOTE_ADDR=self.address(),
        )
        return bool(response.json().get("verified"))


@pytest.fixture
def site(sms_outbox: list[Any]) -> Iterator[Site]:
    with freeze_time(START) as clock:
        yield Site(clock, sms_outbox)


def fresh(prefix: str, seen: set[str] = set()) -> str:  # noqa: B006  (one set for the run)
    """A number nobody has asked for yet, in the range ``0`` + ``prefix``."""
    while True:
        number = "0" + prefix + "".join(random.choices("0123456789", k=9 - len(prefix)))
        if number not in seen:
            seen.add(number)
            return number


SPREAD = ["61", "62", "63", "64", "65", "80", "81", "82", "83", "84"]
SPREAD += ["85", "86", "87", "88", "89", "90", "91", "92", "93", "94"]


def attack(site: Site, requests: int = 150, *, every: float = 1.0, ranges: Any = ("89",)) -> int:
    """``requests`` bot requests, one each ``every`` seconds; the codes they got."""
    got = 0
    for _ in range(requests):
        _status, answer = site.ask(fresh(random.choice(ranges)))
        got += answer is not None
        site.clock.tick(every)
    return got


@pytest.fixture
def suspected() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    pumping_suspected.connect(receiver)
    yield seen
    pumping_suspected.disconnect(receiver)


@pytest.mark.parametrize(
    ("ranges", "every"),
    [(("89",), 1.0), (("89",), 0.1), (SPREAD, 1.0), (SPREAD, 0.1)],
    ids=["one range", "one range, fast", "every range", "every range, fast"],
)
def test_a_burst_of_150_to_fresh_numbers_gets_at_most_60_codes(
    guarded: str,
    site: Site,
    suspected: list[dict[str, Any]],
    caplog: Any,
    ranges: Any,
    every: float,
) -> None:
    with caplog.at_level(logging.WARNING, logger="django_sepsms"):
        got = attack(site, 150, every=every, ranges=ranges)
    print(f"\n{guarded}, {ranges[0]}…, every {every}s: {got} codes sent of 150")
    assert got <= 60
    assert len(site.outbox) == got
    # One episode, one signal and one WARNING line, for the scope under attack.
    scope = "6689" if len(ranges) == 1 else "site"
    assert [s["scope"] for s in suspected] == [scope]
    assert suspected[0]["verified"] == 0
    assert suspected[0]["sent"] >= DEFAULT_PUMPING_GUARD["MIN_SENT"]
    assert suspected[0]["window_minutes"] == DEFAULT_PUMPING_GUARD["WINDOW_MINUTES"]
    warnings = [r for r in caplog.records if "pumping" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_genuine_users_of_another_range_still_get_their_code_at_once(
    guarded: str, site: Site, suspected: list[dict[str, Any]]
) -> None:
    """Attacked: +66 89, one request a second for 150 s. Genuine: +66 81, one every 3 s,
    each typing the code 5 s after it was asked for."""
    waiting: list[tuple[float, Any]] = []
    genuine = served = bot = 0
    for second in range(150):
        if second % 3 == 0:
            genuine += 1
            status, answer = site.ask(fresh("81"))
            if status == 200 and answer is not None:
                served += 1
                waiting.append((second + 5, answer))
        status, answer = site.ask(fresh("89"))
        bot += answer is not None
        while waiting and waiting[0][0] <= second:
            assert site.verify(waiting.pop(0)[1])
        site.clock.tick(1)
    print(f"\n{guarded}: {served} of {genuine} genuine users served, bot got {bot} of 150")
    assert [s["scope"] for s in suspected] == ["6689"], suspected
    assert served >= 0.9 * genuine
    assert bot <= 60


def test_sending_is_back_to_normal_within_the_window_after_the_attack(
    guarded: str, site: Site
) -> None:
    attack(site, 150, every=1.0)
    assert site.ask(fresh("89"))[0] == 429  # still tightened right after
    site.clock.tick(60 * DEFAULT_PUMPING_GUARD["WINDOW_MINUTES"])
    # Genuine users of the attacked range, as many in a minute as before the attack.
    for _ in range(int(DEFAULT_PUMPING_GUARD["MIN_SENT"]) * 2):
        status, answer = site.ask(fresh("89"))
        assert status == 200
        assert answer is not None
        assert site.verify(answer)
        site.clock.tick(2)


def test_a_range_recovers_as_its_codes_are_verified_again(guarded: str, site: Site) -> None:
    attack(site, 20, every=1.0)
    assert site.ask(fresh("89"))[0] == 429
    served = 0
    for _ in range(60):  # two minutes of genuine users, one every 2 s
        status, answer = site.ask(fresh("89"))
        if answer is not None:
            served += 1
            assert site.verify(answer)
        site.clock.tick(2)
    status, answer = site.ask(fresh("89"))
    print(f"\n{guarded}: {served} of 60 served while recovering")
    assert status == 200
    assert answer is not None
    assert served >= 10


def test_decoys_count_like_real_sends(mode: str, sms_outbox: list[Any]) -> None:
    """Sign-up closed: every fresh number gets a decoy (no SMS), and the answers are the
    very ones that real sends get."""
    answers = {}
    for sign_up in (True, False):
        config = {
            **settings.SEPSMS,
            "BACKEND": BACKENDS[mode],
            "OTP_MODE": mode,
            "PUMPING_GUARD": {},
            "LOGIN_CREATE_USERS": sign_up,
        }
        _clear_run_keys()
        with override_settings(SEPSMS=config), freeze_time(START) as clock:
            site = Site(clock, sms_outbox, purpose="login")
            statuses = []
            random.seed(7)
            for _ in range(40):
                statuses.append(site.ask(fresh("89"))[0])
                clock.tick(1)
            answers[sign_up] = statuses
    assert 429 in answers[True]
    assert answers[True] == answers[False]


def _clear_run_keys() -> None:
    """Every key of this run, as between two tests (see ``tests/conftest.py``)."""
    cache = caches["default"]
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=cache.make_key("*"), count=1000))
    if keys:
        client.delete(*keys)


def test_a_request_during_an_episode_stays_in_the_budget(guarded: str, site: Site) -> None:
    if guarded != "redis":
        pytest.skip("round trips are counted on Redis")
    attack(site, 12, every=1.0)
    site.clock.tick(60)  # a new minute: the suspected range sends again
    with cache_round_trips() as trips:
        status, answer = site.ask(fresh("89"))
    assert status == 200
    assert answer is not None
    assert len(trips) <= CODE_REQUEST_ROUND_TRIPS, trips
    with cache_round_trips() as trips:
        assert site.ask(fresh("89"))[0] in (200, 429)
    assert len(trips) <= CODE_REQUEST_ROUND_TRIPS, trips


def test_a_tightened_scope_answers_as_the_other_limits_do(guarded: str, site: Site) -> None:
    attack(site, 12, every=0.1)
    body = json.dumps({"phone": fresh("89"), "purpose": "verify"})
    response = site.client.post("/sepsms/api/otp/", body, content_type="application/json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60


def test_the_login_page_answers_a_tightened_range_as_the_other_limits_do(
    guarded: str, site: Site
) -> None:
    attack(site, 12, every=0.1)
    page = Client().post("/sepsms/login/", {"phone": fresh("89")})
    assert page.status_code == 429
    assert 1 <= int(page["Retry-After"]) <= 60
    text = page.content.decode()
    assert "Too many requests: please wait" in text
    wait = page["Retry-After"]
    assert f'data-sepsms-seconds="{wait}">{wait_text(int(wait))}</span> and try again.' in text


def test_the_dashboard_shows_the_episode(guarded: str, site: Site) -> None:
    attack(site, 30, every=1.0)
    staff = get_user_model().objects.create_superuser("boss", "boss@example.com", "x")
    site.client.force_login(staff)
    page = site.client.get(reverse("admin:sepsms_dashboard"))
    body = page.content.decode()
    assert page.status_code == 200
    (episode,) = page.context["pumping"]
    assert episode.scope == "6689"
    assert episode.suspected
    assert episode.verified == 0
    assert episode.sent >= 10
    assert episode.refused > 0
    assert "sepsms-pumping" in body
    assert "+66 89" in body
    assert "django_sepsms/admin.css" in body
    content = body.split('id="content"')[-1]
    assert "<style" not in content
    assert 'style="' not in content


def test_off_with_none(mode: str, sms_outbox: list[Any]) -> None:
    config = {**settings.SEPSMS, "BACKEND": BACKENDS[mode], "PUMPING_GUARD": None}
    with override_settings(SEPSMS=config), freeze_time(START) as clock:
        site = Site(clock, sms_outbox)
        assert attack(site, 40, every=1.0) == 40
        assert pumping.episodes() == []


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (None, []),
        ({}, []),
        ({"MIN_CONVERSION": 0.5, "PREFIX_DIGITS": 3}, []),
        ([], ["sepsms.E018"]),
        ({"WINDOW_MINUTES": 0}, ["sepsms.E018"]),
        ({"PREFIX_DIGITS": 4}, ["sepsms.E018"]),
        ({"MIN_CONVERSION": 1.5}, ["sepsms.E018"]),
        ({"TIGHTENED_PER_MINUTE": "5"}, ["sepsms.E018"]),
        ({"SITE_MIN_SENT": True}, ["sepsms.E018"]),
        ({"MIN_SENDS": 3}, ["sepsms.W011"]),
    ],
)
def test_the_system_checks(value: Any, ids: list[str]) -> None:
    from django_sepsms.checks import check_settings

    with override_settings(SEPSMS={**settings.SEPSMS, "PUMPING_GUARD": value}):
        found = [m.id for m in check_settings() if m.id in ("sepsms.E018", "sepsms.W011")]
        assert found == ids
        errors = [m for m in pumping.check_guard_settings() if isinstance(m, Error)]
        if errors:  # a guard it does not understand keeps its defaults, never turns off
            assert pumping.watch_for("66891234567") is not None


def test_verified_codes_count_in_both_scopes(guarded: str, site: Site) -> None:
    _status, answer = site.ask(fresh("81"))
    assert site.verify(answer)
    minute = int(time.time()) // 60
    cache = caches["default"]
    assert cache.get(f"sepsms:pumping:6681:verified:{minute}") == 1
    assert cache.get(f"sepsms:pumping:site:verified:{minute}") == 1
    assert cache.get(f"sepsms:pumping:6681:sent:{minute}") == 1
    assert django_sepsms.outbox


def test_processes_share_one_guard_and_one_episode() -> None:
    """Eight workers with caches and connections of their own (threads: Django's caches
    are per thread), asking at once: one count, one episode, one signal."""
    seen: list[str] = []
    lock = threading.Lock()

    def receiver(sender: Any, scope: str, **kwargs: Any) -> None:
        with lock:
            seen.append(scope)

    def worker(n: int) -> list[str]:
        answers = []
        for i in range(10):
            try:
                limits.check_send(f"66891{n:02d}{i:04d}", f"192.0.2.{n * 10 + i}")
            except OtpRateLimited as exc:
                answers.append(exc.limit)
            else:
                answers.append("sent")
        for pool in caches["default"]._cache._pools.values():  # type: ignore[attr-defined]
            pool.disconnect()  # this worker's own connections
        return answers

    config = {**settings.SEPSMS, "PUMPING_GUARD": {}}
    pumping_suspected.connect(receiver)
    try:
        with override_settings(SEPSMS=config), ThreadPoolExecutor(8) as pool:
            results = [a for answers in pool.map(worker, range(8)) for a in answers]
    finally:
        pumping_suspected.disconnect(receiver)
    guard = DEFAULT_PUMPING_GUARD
    # MIN_SENT, then the minute's allowance (two minutes' if the run straddles one).
    assert set(results) == {"sent", "otp_pumping_guard"}
    least, tightened = int(guard["MIN_SENT"]), int(guard["TIGHTENED_PER_MINUTE"])
    assert least <= results.count("sent") <= least + 2 * tightened
    assert seen == ["6689"]


def test_codes_another_app_checks_are_not_watched(sms_outbox: list[Any]) -> None:
    """Relayed codes (django-allauth's) keep the fixed limits, but the guard never sees
    them verified: it leaves them alone rather than take their users for bots."""
    from django_sepsms.otp.relay import relay_code

    config = {**settings.SEPSMS, "PUMPING_GUARD": {}}
    with override_settings(SEPSMS=config), freeze_time(START) as clock:
        for _ in range(30):
            request = RequestFactory().post("/", REMOTE_ADDR=f"10.9.0.{len(sms_outbox) + 1}")
            relay_code(request, fresh("89"), "123456", purpose="login", user=None)
            clock.tick(1)
        assert len(sms_outbox) == 30
        assert pumping.episodes() == []
