"""No oracle: registered and unknown numbers answer alike under every provider state.

Each case runs one visitor through the phone login (the HTML pages, then the
JSON API) twice from a clean site: once with a registered number, once with a
number that belongs to nobody. Everything a client can see is compared: status,
headers, cookies, the body (the reference, CSRF token and masked digits left
out), the reference's form, and what a second client sees right after.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone

from django_sepsms.conf import sepsms_settings
from django_sepsms.models import OtpChallenge, PhoneNumber
from django_sepsms.otp import flows
from django_sepsms.simulator import Simulator
from tests.helpers import http_settings

pytestmark = pytest.mark.django_db

REGISTERED, UNKNOWN, BYSTANDER = "0812345678", "0898765432", "0861112222"
#: The provider's references: six capitals and digits, any of them [assumed, as the simulator].
PROVIDER_REFERENCE = re.compile(r"^[A-Z0-9]{6}$")
#: The app's own references (local mode): no 0, 1, I or O to misread.
LOCAL_REFERENCE = re.compile(r"^[A-HJ-NP-Z2-9]{6}$")
NO_LIMITS = dict.fromkeys(
    (
        "otp_send_phone",
        "otp_send_phone_daily",
        "otp_send_ip",
        "otp_send_global",
        "otp_verify_phone",
        "otp_verify_ip",
    )
)

TIMING_SETTINGS = {
    "OTP_MIN_ANSWER_TIME": 0.04,
    "OTP_RESEND_COOLDOWN": 0,
    "RATELIMITS": NO_LIMITS,
    "THROTTLE": False,
}
LOCMEM = "django_sepsms.backends.locmem.LocmemBackend"

FAULTS: dict[str, Callable[[Simulator], None]] = {
    "ok": lambda sim: None,
    "503": lambda sim: sim.fail_next("", status=503, times=10_000),
    "500": lambda sim: sim.fail_next("", status=500, code="server.internal", times=10_000),
    "401": lambda sim: sim.fail_next(
        "", status=401, code="auth.invalid_credentials", times=10_000
    ),
    "429": lambda sim: sim.fail_next(
        "", status=429, code="rate_limit.exceeded", retry_after=60, times=10_000
    ),
    # The request reaches the provider, which acts on it but answers too late.
    "timeout": lambda sim: sim.delay_next("", seconds=1.0, times=10_000, process=True),
}


@pytest.fixture
def registered() -> Any:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    return user


def forget_cache() -> None:
    """Drop this run's cache keys (limits, cooldowns, timings): a clean site."""
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=cache.make_key("*"), count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def clean_site(sim: Simulator) -> Callable[[str, dict[str, Any]], Any]:
    """A context manager factory: the simulator in ``fault``, a clean cache, these settings."""

    def enter(fault: str, extra: dict[str, Any]) -> Any:
        sim.reset()
        sim.rate_limits_enabled = False
        forget_cache()
        FAULTS[fault](sim)
        return override_settings(SEPSMS=http_settings(sim, TIMEOUT=0.4, **extra))

    return enter


_VOLATILE_PAGE: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"'), "CSRF"),
    (re.compile(r'<span class="sepsms-ref">[^<]*</span>'), "REF"),
    (re.compile(r"\d+\*+\d+"), "MASKED"),
    # A countdown's start, read off the clock like the waits below.
    (
        re.compile(r'data-sepsms-seconds="(\d+)">(\d+)'),
        lambda m: f'data-sepsms-seconds="{about(m.group(1))}">{about(m.group(2))}',
    ),
    (re.compile(r"0x+-x+-x+\d+"), "MASKED"),  # the pages' local form
    # A wait in seconds read off the clock: rounded, as a second can tick between two runs.
    (re.compile(r"\b(\d+)( seconds| s)\b"), lambda m: f"{about(m.group(1))}{m.group(2)}"),
]
#: Headers whose value is a clock or a length, not a decision.
_VOLATILE_HEADERS = {"Expires", "Content-Length", "Date"}


def about(seconds: Any) -> str:
    """A wait in seconds to the nearest ten: ``59``, ``60`` and ``61`` all read ``~60``."""
    return f"~{round(int(seconds) / 10) * 10}"


def reference_form(reference: str) -> bool:
    """Whether ``reference`` has the form real references have in the current mode."""
    local = sepsms_settings.OTP_MODE == "local"
    return bool((LOCAL_REFERENCE if local else PROVIDER_REFERENCE).match(reference))


def shape(response: Any) -> dict[str, Any]:
    """What a client can see of an answer, minus values that differ for every request."""
    headers = {
        name: ("*" if name in _VOLATILE_HEADERS else value)
        for name, value in response.headers.items()
    }
    if "Retry-After" in headers:
        headers["Retry-After"] = about(headers["Retry-After"])
    seen: dict[str, Any] = {
        "status": response.status_code,
        "headers": headers,
        "cookies": sorted(response.cookies),
    }
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        body = json.loads(response.content)
        seen["body"] = {
            key: (value if key in {"code", "verified"} else type(value))
            for key, value in body.items()
        }
        for key in ("resend_after", "retry_after"):
            if key in body:
                seen["body"][key] = about(body[key])
        if "detail" in body:
            seen["body"]["detail"] = re.sub(
                r"\b(\d+) seconds", lambda m: f"{about(m.group(1))} seconds", body["detail"]
            )
    else:
        text = response.content.decode()
        for pattern, replacement in _VOLATILE_PAGE:
            text = pattern.sub(replacement, text)
        seen["body"] = text
    return seen


def page_transcript(phone: str) -> list[dict[str, Any]]:
    """Step 1, step 2, a wrong code, a resend, then what a bystander gets."""
    visitor, bystander = Client(REMOTE_ADDR="198.51.100.7"), Client(REMOTE_ADDR="198.51.100.8")
    seen = [shape(visitor.post("/sepsms/login/", {"phone": phone}))]
    flow = visitor.session.get("sepsms_flow") or {}
    if flow:
        seen.append({"reference": reference_form(flow["reference"])})
        seen.append(shape(visitor.get("/sepsms/login/verify/")))
        seen.append(shape(visitor.post("/sepsms/login/verify/", {"code": "000000"})))
        seen.append(shape(visitor.post("/sepsms/login/verify/", {"resend": "1"})))
    seen.append(shape(bystander.post("/sepsms/login/", {"phone": BYSTANDER})))
    return seen


def api_transcript(phone: str) -> list[dict[str, Any]]:
    """The same through the JSON API."""
    visitor, bystander = Client(REMOTE_ADDR="198.51.100.7"), Client(REMOTE_ADDR="198.51.100.8")

    def post(client: Client, path: str, body: dict[str, Any]) -> Any:
        return client.post(path, json.dumps(body), content_type="application/json")

    first = post(visitor, "/sepsms/api/otp/", {"phone": phone, "purpose": "login"})
    seen = [shape(first)]
    if first.status_code == 200:
        sent = first.json()
        seen.append({"reference": reference_form(sent["reference"])})
        wrong = {"reference": sent["reference"], "pin": "000000", "flow_token": sent["flow_token"]}
        seen.append(shape(post(visitor, "/sepsms/api/otp/verify/", wrong)))
        seen.append(shape(post(visitor, "/sepsms/api/otp/", {"phone": phone, "purpose": "login"})))
    seen.append(
        shape(post(bystander, "/sepsms/api/otp/", {"phone": BYSTANDER, "purpose": "login"}))
    )
    return seen


@pytest.mark.parametrize("mode", ["provider", "local"])
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("transcript", [page_transcript, api_transcript], ids=["page", "api"])
def test_registered_and_unknown_numbers_answer_alike(
    registered: Any,
    clean_site: Callable[[str, dict[str, Any]], Any],
    transcript: Callable[[str], list[dict[str, Any]]],
    fault: str,
    mode: str,
) -> None:
    settings = {"OTP_MODE": mode}
    with clean_site(fault, settings):
        known = transcript(REGISTERED)
    with clean_site(fault, settings):
        unknown = transcript(UNKNOWN)
    assert known == unknown
    assert known[0]["status"] in {302, 200}  # the code page, whatever the provider did
    assert {"reference": True} in known


#: The code page's states: a cooldown (the default 60 s), or limits low enough to reach.
STATE_SETTINGS: dict[str, dict[str, Any]] = {
    "cooldown": {},
    "limits": {
        "OTP_RESEND_COOLDOWN": 0,
        "RATELIMITS": {"otp_send_phone": "2/10m", "otp_verify_phone": "7/h"},
    },
}


def states_transcript(phone: str) -> list[dict[str, Any]]:
    """Every state of the code page: wrong codes down to a locked code, the locked page,
    a forced check, asking again (same session, then another), resends, a limit."""
    visitor, bystander = Client(REMOTE_ADDR="198.51.100.7"), Client(REMOTE_ADDR="198.51.100.8")
    verify = "/sepsms/login/verify/"
    seen: list[dict[str, Any]] = []

    def see(response: Any) -> None:
        # The waits, read off the clock while the limits' windows run: compared apart.
        waits = [int(w) for w in re.findall(r'data-sepsms-seconds="(\d+)"', response.text)]
        if "Retry-After" in response.headers:
            waits.append(int(response.headers["Retry-After"]))
        step = shape(response)
        # The number as the visitor typed it, sent back in the form: theirs, not a state.
        step["body"] = re.sub(r"~\d+", "~N", step["body"]).replace(
            f'value="{phone}"', 'value="TYPED"'
        )
        if "Retry-After" in step["headers"]:
            step["headers"]["Retry-After"] = "~N"
        seen.append({**step, "waits": waits})

    see(visitor.post("/sepsms/login/", {"phone": phone}))
    for _ in range(5):
        see(visitor.post(verify, {"code": "000000"}))
    see(visitor.get(verify))
    see(visitor.post(verify, {"code": "000000"}))  # locked: nothing is checked
    see(visitor.post("/sepsms/login/", {"phone": phone}))
    see(visitor.post(verify, {"resend": "1"}))
    see(visitor.get(verify))
    for _ in range(3):
        see(visitor.post(verify, {"code": "000000"}))
    see(visitor.post(verify, {"resend": "1"}))
    see(visitor.get(verify))
    see(bystander.post("/sepsms/login/", {"phone": phone}))
    return seen


@pytest.mark.parametrize("mode", ["provider", "local"])
@pytest.mark.parametrize("fault", ["ok", "503", "timeout"])
@pytest.mark.parametrize("config", list(STATE_SETTINGS))
def test_the_code_page_states_are_the_same_for_unknown_numbers(
    registered: Any,
    clean_site: Callable[[str, dict[str, Any]], Any],
    config: str,
    fault: str,
    mode: str,
) -> None:
    """Tries left, locked, "a code was just sent", "too many requests" and the waits
    of both buttons come from the session's flow and the limits, so a decoy shows each
    of them exactly when a registered number does."""
    settings = {"OTP_MODE": mode, **STATE_SETTINGS[config]}
    started = time.monotonic()
    with clean_site(fault, settings):
        known = states_transcript(REGISTERED)
    # The same number once it belongs to nobody: a limit's window depends on the
    # number's digits (django-ratelimit staggers them), here both see the same one.
    PhoneNumber.objects.all().delete()
    OtpChallenge.objects.all().delete()
    with clean_site(fault, settings):
        unknown = states_transcript(REGISTERED)
    assert not OtpChallenge.objects.exists()  # a decoy all along
    # A window's wait is shorter by the time the first run took; a cooldown's is the same.
    slack = time.monotonic() - started + 2
    for a, b in zip(known, unknown, strict=True):
        assert len(a["waits"]) == len(b["waits"])
        assert all(-2 <= x - y <= slack for x, y in zip(a["waits"], b["waits"], strict=True))
    assert [{**a, "waits": None} for a in known] == [{**b, "waits": None} for b in unknown]
    bodies = " ".join(str(step.get("body")) for step in known)
    assert "You have 4 tries left." in bodies
    assert "This code is locked after too many wrong tries" in bodies
    expected = "A code was just sent" if config == "cooldown" else "Too many requests"
    assert expected in bodies
    assert "Too many attempts" not in bodies


@pytest.mark.parametrize("mode", ["provider", "local"])
def test_decoy_references_have_the_form_of_real_ones(
    registered: Any, clean_site: Callable[[str, dict[str, Any]], Any], mode: str
) -> None:
    """The same alphabet and length as the references real codes get in this mode."""
    settings = {
        "OTP_MODE": mode,
        "OTP_RESEND_COOLDOWN": 0,
        "RATELIMITS": NO_LIMITS,
        "THROTTLE": False,
    }
    client = Client()

    def references(phone: str, count: int) -> list[str]:
        body = json.dumps({"phone": phone, "purpose": "login"})
        return [
            client.post("/sepsms/api/otp/", body, content_type="application/json").json()[
                "reference"
            ]
            for _ in range(count)
        ]

    with clean_site("ok", settings):
        # Decoys first: with no real send yet, their answers wait for nothing.
        decoy = references(UNKNOWN, 300)
        real = references(REGISTERED, 60)
    pattern = PROVIDER_REFERENCE if mode == "provider" else LOCAL_REFERENCE
    assert all(pattern.match(r) for r in real + decoy)
    # 1,800 characters: every one of the alphabet shows up (a missing one: p < 1e-20).
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    if mode == "local":
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    assert set("".join(decoy)) == set(alphabet)
    if mode == "provider":
        assert set("".join(real)) <= set(alphabet)
        assert set("".join(real)) & set("01IO")  # the provider's references use them too


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p of the Mann-Whitney U test (normal approximation, ties corrected)."""
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    tie_term, i = 0.0, 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        tie_term += (j - i + 1) ** 3 - (j - i + 1)
        i = j + 1
    n1, n2 = len(a), len(b)
    n = n1 + n2
    r1 = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = r1 - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    sd = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    z = (abs(u - mean) - 0.5) / sd
    return math.erfc(max(z, 0.0) / math.sqrt(2))


def test_mann_whitney_helper_sees_a_real_difference() -> None:
    same = [0.001 * (i % 17) for i in range(200)]
    assert mann_whitney_p(same, list(reversed(same))) > 0.5
    assert mann_whitney_p(same, [x + 0.004 for x in same]) < 0.01


def extra_settings(fault: str) -> Any:
    """ "local-ok": a provider that answers at once, with no thread of its own in this
    process; "timeout": one that answers after the backend gave up (80 ms), past the floor."""
    if fault == "local-ok":
        return override_settings(
            SEPSMS={**django_settings.SEPSMS, **TIMING_SETTINGS, "BACKEND": LOCMEM}
        )
    if fault == "timeout":
        return override_settings(SEPSMS={**django_settings.SEPSMS, "TIMEOUT": 0.08})
    return contextlib.nullcontext()


@pytest.mark.slow
@pytest.mark.timing
@pytest.mark.parametrize("fault", ["local-ok", "503", "timeout"])
def test_step_one_takes_as_long_for_unknown_numbers(
    registered: Any,
    clean_site: Callable[[str, dict[str, Any]], Any],
    simulator: Simulator,
    fault: str,
) -> None:
    """200 samples of each, interleaved: a rank test cannot tell them apart at p < 0.01.

    The answer floor is small here (40 ms) so the test is quick, but the code
    path is the production one: both answers end asleep at the same target, the
    floor or the slowest recent real send. "local-ok" is a provider that answers
    at once (the in-memory backend); "503" a failing one and "timeout" one that
    answers after the backend gave up, past the floor (the simulator, its
    deliveries held back: its threads share this process's GIL).

    Two identical distributions still give p < 0.01 one time in a hundred, and
    the suite runs this test three times on each of six cells: a round that rejects is
    taken again with fresh samples, and the test fails only if that one rejects
    too. A real difference, even of a millisecond, rejects in both.
    """
    settings = TIMING_SETTINGS

    def post(client: Client, phone: str) -> Any:
        body = json.dumps({"phone": phone, "purpose": "login"})
        return client.post("/sepsms/api/otp/", body, content_type="application/json")

    clients = {REGISTERED: Client(), UNKNOWN: Client()}
    with clean_site(fault.removeprefix("local-"), settings), extra_settings(fault):
        # The simulator runs in this process: its deliveries would take the GIL
        # from the next request, a stand-in artefact no real provider has.
        simulator.delivery_delay = 3600
        for _ in range(20):  # warm up: connections, recent real sends
            post(clients[REGISTERED], REGISTERED)
            post(clients[UNKNOWN], UNKNOWN)
        rounds = []
        for seed in (13, 14):
            samples: dict[str, list[float]] = {REGISTERED: [], UNKNOWN: []}
            # A random order: what one request leaves behind (a provider connection to
            # close, garbage to collect) slows the next, so neither kind always follows
            # the other.
            order = [REGISTERED, UNKNOWN] * 200
            random.Random(seed).shuffle(order)
            for phone in order:
                started = time.perf_counter()
                response = post(clients[phone], phone)
                samples[phone].append(time.perf_counter() - started)
                assert response.status_code == 200
            p = mann_whitney_p(samples[REGISTERED], samples[UNKNOWN])
            medians = [sorted(s)[len(s) // 2] * 1000 for s in samples.values()]
            rounds.append(f"p={p:.4f}, medians {medians[0]:.1f} / {medians[1]:.1f} ms")
            if p >= 0.01:
                break
    assert p >= 0.01, "; ".join(rounds)
    if fault in {"503", "timeout"}:
        statuses = set(OtpChallenge.objects.values_list("status", flat=True))
        assert OtpChallenge.Status.PENDING not in statuses


def timed_code_request(phone: str) -> float:
    """Seconds one login code request for ``phone`` takes through the API."""
    started = time.perf_counter()
    body = json.dumps({"phone": phone, "purpose": "login"})
    response = Client().post("/sepsms/api/otp/", body, content_type="application/json")
    assert response.status_code == 200
    return time.perf_counter() - started


def test_decoys_replay_how_long_failed_sends_took(
    registered: Any, clean_site: Callable[[str, dict[str, Any]], Any], simulator: Simulator
) -> None:
    """While real sends time out past the answer floor, a decoy takes as long as they do.

    Every answer waits for the slowest recent real send, failures included:
    counting successes only, a decoy would answer at the floor, far sooner than
    a registered number whose send timed out.
    """
    timeout = 0.15  # the backend gives up then; the floor is 40 to 50 ms

    with clean_site("timeout", TIMING_SETTINGS):
        simulator.delivery_delay = 3600
        with override_settings(SEPSMS={**django_settings.SEPSMS, "TIMEOUT": timeout}):
            real = [timed_code_request(REGISTERED) for _ in range(5)]
            decoys = [timed_code_request(UNKNOWN) for _ in range(5)]
    assert min(real) >= timeout
    assert min(decoys) >= timeout, decoys
    statuses = set(OtpChallenge.objects.values_list("status", flat=True))
    assert statuses <= {OtpChallenge.Status.UNCONFIRMED, OtpChallenge.Status.CANCELLED}


def test_a_slow_spell_stops_slowing_answers_after_two_minutes(
    registered: Any, clean_site: Callable[[str, dict[str, Any]], Any], simulator: Simulator
) -> None:
    """Answers wait as long as the slowest recent real send, but only while it is recent."""
    timeout = 0.3  # far above the 40 to 50 ms floor

    with clean_site("timeout", TIMING_SETTINGS):
        simulator.delivery_delay = 3600
        with override_settings(SEPSMS={**django_settings.SEPSMS, "TIMEOUT": timeout}):
            timed_code_request(REGISTERED)
            assert timed_code_request(UNKNOWN) >= timeout  # the slow send is recent
            later = time.time() + 121
            with mock.patch.object(flows.time, "time", return_value=later):
                assert timed_code_request(UNKNOWN) < timeout  # it is not any more


@pytest.mark.slow
@pytest.mark.timing
@pytest.mark.parametrize("fault", ["local-ok", "ok"])
def test_wrong_codes_take_as_long_for_unknown_numbers(
    registered: Any,
    clean_site: Callable[[str, dict[str, Any]], Any],
    simulator: Simulator,
    fault: str,
) -> None:
    """The code page's answer to a wrong code: 200 of each kind, interleaved, cannot be
    told apart (p >= 0.01), with codes the app checks ("local-ok") and codes the
    provider checks over HTTP ("ok"), which a decoy never asks. Taken again once on a
    rejection, as the step-one test is."""
    settings = {**TIMING_SETTINGS, "OTP_MAX_ATTEMPTS": 10_000}
    verify = "/sepsms/login/verify/"
    clients = {REGISTERED: Client(), UNKNOWN: Client()}
    with clean_site(fault.removeprefix("local-"), settings), extra_settings(fault):
        simulator.delivery_delay = 3600
        for phone, client in clients.items():
            assert client.post("/sepsms/login/", {"phone": phone}).status_code == 302
        for _ in range(20):  # warm up: connections, recent real checks
            for client in clients.values():
                client.post(verify, {"code": "000000"})
        for seed in (23, 24):
            samples: dict[str, list[float]] = {REGISTERED: [], UNKNOWN: []}
            order = [REGISTERED, UNKNOWN] * 200
            random.Random(seed).shuffle(order)
            for phone in order:
                started = time.perf_counter()
                response = clients[phone].post(verify, {"code": "000000"})
                samples[phone].append(time.perf_counter() - started)
                assert response.status_code == 400
            p = mann_whitney_p(samples[REGISTERED], samples[UNKNOWN])
            if p >= 0.01:
                break
    assert p >= 0.01
    assert OtpChallenge.objects.get(phone="66812345678").attempts >= 220  # really checked
