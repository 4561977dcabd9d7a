"""The phone pages in a real browser: the system Chromium driven by Playwright.

Everything runs on this machine: Django's live server on localhost, codes read from
the locmem outbox, and any request that is not for the live server is aborted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from django_sepsms.models import PhoneNumber
from tests.browser import ARTIFACTS, code_in, reference_in, running_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

try:
    from playwright.sync_api import expect
except ImportError:  # not installed: every test here skips (fails on CI)
    expect = None  # type: ignore[assignment]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WRONG_CODE_ERROR = "That code is not right. You have 4 tries left."
TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for this module (see ``running_chromium`` for why module-scoped)."""
    with running_chromium() as chromium:
        yield chromium


#: What the pages must live with: no inline script or style, nothing from elsewhere.
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'"


@contextmanager
def open_context(
    browser: Browser, live_server: Any, locale: str = "en-US", *, javascript: bool = True
) -> Iterator[BrowserContext]:
    """A fresh profile (no cookies) that can reach the live server and nothing else.

    Every page is served with a strict Content-Security-Policy (:data:`CSP`): a
    page that needed an inline script or style would break, and the browser's
    report of it fails the test.
    """
    ctx = browser.new_context(
        viewport={"width": 1024, "height": 720}, locale=locale, java_script_enabled=javascript
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    blocked: list[str] = []
    refused: list[str] = []

    def only_live_server(route: Route) -> None:
        if not route.request.url.startswith(live_server.url):
            blocked.append(route.request.url)
            route.abort()
        elif route.request.resource_type == "document":
            answer = route.fetch(max_redirects=0)
            route.fulfill(
                response=answer, headers={**answer.headers, "content-security-policy": CSP}
            )
        else:
            route.continue_()

    def watch(page: Page) -> None:
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )

    ctx.on("page", watch)
    ctx.route("**/*", only_live_server)
    yield ctx
    ctx.close()
    assert not blocked, f"the pages asked for outside resources: {blocked}"
    assert not refused, f"the pages broke the Content-Security-Policy: {refused}"


@pytest.fixture
def context(browser: Browser, django_db_setup: None, live_server: Any) -> Iterator[BrowserContext]:
    """An English profile (see :func:`open_context`).

    ``django_db_setup`` comes first: a live server started before the test database
    exists would share an in-memory SQLite connection between its threads.
    """
    with open_context(browser, live_server) as ctx:
        yield ctx


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(autouse=True)
def _phone_login_settings(settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "django_sepsms.auth.PhoneBackend",
    ]
    settings.LOGIN_REDIRECT_URL = "/sepsms/phone/"
    # The live server runs in this process, so a local-memory cache is shared with it; the
    # shared Redis test database is not used here, as another test run's cache.clear()
    # (a FLUSHDB) could drop the resend cooldown between two steps of a test.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "sepsms-browser-tests",
        }
    }
    cache.clear()


@pytest.fixture
def user() -> Any:
    """An account that owns 66812345678."""
    account = get_user_model().objects.create_user(username="somchai", password="not-used-here")
    PhoneNumber.objects.create(user=account, phone="66812345678", verified_at=timezone.now())
    return account


def session_cookie(context: BrowserContext) -> str | None:
    name = django_settings.SESSION_COOKIE_NAME
    return next((c["value"] for c in context.cookies() if c["name"] == name), None)


def send_login_code(page: Page, base_url: str, phone: str = "081-234-5678") -> None:
    """Step 1 of phone login, ending on the verify page."""
    page.goto(f"{base_url}/sepsms/login/?next=/sepsms/phone/")
    page.fill("input[name=phone]", phone)
    page.get_by_role("button", name="Send code").click()
    expect(page).to_have_url(f"{base_url}/sepsms/login/verify/")
    page.wait_for_load_state()


def count_in(counter: Any) -> int:
    """The number a countdown shows (``57 s``, ``49 min``, ``57 วินาที``)."""
    match = re.match(r"\s*(\d+)\s", counter.inner_text() + " ")
    assert match, counter.inner_text()
    return int(match.group(1))


def wrong(code: str) -> str:
    """A code of the same length that is surely not ``code``."""
    return "".join(str((int(digit) + 1) % 10) for digit in code)


def test_phone_login(page: Page, live_server: Any, user: Any, sms_outbox: list[Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{live_server.url}/sepsms/login/?next=/sepsms/phone/")
    expect(page.get_by_role("heading", name="Sign in with your phone")).to_be_visible()
    expect(page.locator("input[name=phone]")).to_be_focused()
    page.screenshot(path=ARTIFACTS / "login.png", full_page=True)

    page.fill("input[name=phone]", "081-234-5678")
    page.get_by_role("button", name="Send code").click()
    expect(page).to_have_url(f"{live_server.url}/sepsms/login/verify/")
    assert len(sms_outbox) == 1
    assert sms_outbox[0].recipients == ["66812345678"]
    code, reference = code_in(sms_outbox[0].message), reference_in(sms_outbox[0].message)

    lead = page.locator("main p").first
    expect(lead).to_contain_text("0xx-xxx-xx78")
    expect(lead).to_contain_text(f"Ref: {reference}")
    expect(page.locator(".sepsms-ref")).to_have_text(reference)
    assert "0812345678" not in page.content()
    code_input = page.locator("input[name=code]")
    expect(code_input).to_have_attribute("inputmode", "numeric")
    expect(code_input).to_have_attribute("autocomplete", "one-time-code")
    expect(code_input).to_be_focused()
    # Changing the number keeps where the user was going.
    expect(page.get_by_role("link", name="Use a different number")).to_have_attribute(
        "href", "/sepsms/login/?next=%2Fsepsms%2Fphone%2F"
    )
    page.screenshot(path=ARTIFACTS / "verify.png", full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})  # a small phone
    page.screenshot(path=ARTIFACTS / "verify-mobile.png", full_page=True)
    page.set_viewport_size({"width": 1024, "height": 720})
    before_login = session_cookie(page.context)
    assert before_login

    code_input.fill(wrong(code))
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(WRONG_CODE_ERROR)
    expect(page).to_have_url(f"{live_server.url}/sepsms/login/verify/")
    page.screenshot(path=ARTIFACTS / "verify-error.png", full_page=True)
    assert session_cookie(page.context) == before_login

    page.fill("input[name=code]", code)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/sepsms/phone/")  # the ?next=
    # Only a signed-in user sees this page (else LoginRequiredMixin redirects away).
    expect(page.get_by_role("heading", name="Add a phone number")).to_be_visible()
    after_login = session_cookie(page.context)
    assert after_login
    assert after_login != before_login  # login() rotated the session key
    assert SessionStore(session_key=after_login).get("_auth_user_id") == str(user.pk)
    assert len(sms_outbox) == 1


def test_signed_in_user_adds_a_phone(page: Page, live_server: Any, sms_outbox: list[Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    account = get_user_model().objects.create_user(username="malee", password="not-used-here")
    client = Client()
    client.force_login(account)
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )

    page.goto(f"{live_server.url}/sepsms/phone/")
    expect(page.get_by_role("heading", name="Add a phone number")).to_be_visible()
    page.fill("input[name=phone]", "0912345678")
    page.get_by_role("button", name="Send code").click()
    expect(page).to_have_url(f"{live_server.url}/sepsms/phone/verify/")
    expect(page.locator("main p").first).to_contain_text("0xx-xxx-xx78")
    assert sms_outbox[-1].recipients == ["66912345678"]

    page.fill("input[name=code]", code_in(sms_outbox[-1].message))
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.get_by_role("heading", name="Phone number added")).to_be_visible()
    expect(page.locator("main p")).to_have_text("0xx-xxx-xx78 is now verified on your account.")
    page.screenshot(path=ARTIFACTS / "phone-done.png", full_page=True)
    number = PhoneNumber.objects.get(phone="66912345678")
    assert number.user_id == account.pk
    assert number.is_primary


def test_resend_waits_for_the_cooldown(
    page: Page, live_server: Any, user: Any, sms_outbox: list[Any]
) -> None:
    send_login_code(page, live_server.url)
    resend = page.locator("button[name=resend]")
    expect(resend).to_be_disabled()
    expect(resend).to_have_text(re.compile(r"^\s*Send a new code in \d+ s\s*$"))
    match = re.search(r"\d+", resend.inner_text())
    assert match
    assert 50 <= int(match.group()) <= 60  # OTP_RESEND_COOLDOWN defaults to 60 s

    # The server enforces it too: a forced click sends nothing.
    resend.evaluate("button => { button.disabled = false; }")
    resend.click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("A code was just sent to this number: enter it, or wait")
    expect(alert).not_to_contain_text("Too many")
    assert len(sms_outbox) == 1


def test_resend_without_cooldown_sends_a_new_code(
    page: Page, live_server: Any, user: Any, sms_outbox: list[Any], settings: Any
) -> None:
    settings.SEPSMS = {**settings.SEPSMS, "OTP_RESEND_COOLDOWN": 0}
    send_login_code(page, live_server.url)
    first_reference = reference_in(sms_outbox[-1].message)
    expect(page.locator(".sepsms-ref")).to_have_text(first_reference)

    resend = page.get_by_role("button", name="Send a new code", exact=True)
    expect(resend).to_be_enabled()
    resend.click()
    expect(page.locator(".sepsms-ref")).not_to_have_text(first_reference)
    assert len(sms_outbox) == 2
    second_reference = reference_in(sms_outbox[-1].message)
    assert second_reference != first_reference
    expect(page.locator(".sepsms-ref")).to_have_text(second_reference)
    expect(page).to_have_url(f"{live_server.url}/sepsms/login/verify/")

    # The new code signs in.
    page.fill("input[name=code]", code_in(sms_outbox[-1].message))
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/sepsms/phone/")


# The code page's states, in English and Thai, for a registered and an unknown number.

#: Where the screenshots of the states go: ``SEPSMS_SCREENSHOTS``, else ``tests/_artifacts``.
SHOTS = Path(os.environ.get("SEPSMS_SCREENSHOTS") or ARTIFACTS)
#: Seconds between two codes in these tests: long enough to act within, short to wait out.
COOLDOWN = 10
UNKNOWN = "0898765432"

STATE_TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "wrong": "That code is not right. You have 4 tries left.",
        "just_sent": "A code was just sent to this number: enter it, or wait",
        "ask_now": "You can ask for a new code now.",
        "locked": "This code is locked after too many wrong tries: request a new one.",
        "too_many": "Too many requests: please wait",
        "resend": "Send a new code",
        "waiting": re.compile(r"^\s*Send a new code in \d+ s\s*$"),
        "waiting_minutes": re.compile(r"^\s*Send a new code in \d+ min\s*$"),
        "minutes": re.compile(r"^\d+ min$"),
        "seconds": re.compile(r"^\d+ s$"),
        "send": "Send code",
        "back": "Back to the site",
    },
    "th": {
        "wrong": "รหัสไม่ถูกต้อง เหลือโอกาสอีก 4 ครั้ง",
        "just_sent": "เพิ่งส่งรหัสไปยังเบอร์นี้ กรอกรหัสนั้น หรือรอ",
        "ask_now": "ขอรหัสใหม่ได้แล้ว",
        "locked": "รหัสนี้ถูกล็อกแล้วเพราะกรอกผิดหลายครั้งเกินไป กรุณาขอรหัสใหม่",
        "too_many": "มีคำขอมากเกินไป กรุณารอ",
        "resend": "ขอรหัสใหม่",
        "waiting": re.compile(r"^\s*ขอรหัสใหม่ได้ใน \d+ วินาที\s*$"),
        "waiting_minutes": re.compile(r"^\s*ขอรหัสใหม่ได้ใน \d+ นาที\s*$"),
        "minutes": re.compile(r"^\d+ นาที$"),
        "seconds": re.compile(r"^\d+ วินาที$"),
        "send": "ส่งรหัส",
        "back": "กลับไปที่เว็บไซต์",
    },
}
_VOLATILE_TEXT = [
    (re.compile(r"\b\d{2}\*+\d{2}\b|0x+-x+-x+\d+"), "MASKED"),
    (re.compile(r"Ref: [A-Z0-9]+"), "Ref: REF"),
    (re.compile(r"\d+(?= s\b| min\b| วินาที| นาที)"), "N"),
]


def seen(page: Page) -> dict[str, Any]:
    """What a visitor sees of the page: its text (references, numbers and waits left
    out) and which buttons may be pressed."""
    # Words only: how the browser lays them out (spaces, line breaks) is not a state.
    text = " ".join(page.locator("main").inner_text().split())
    for pattern, replacement in _VOLATILE_TEXT:
        text = pattern.sub(replacement, text)
    buttons = page.locator("button")
    return {
        "path": page.url.split("//", 1)[1].split("/", 1)[1],
        "text": text,
        "enabled": [buttons.nth(i).is_enabled() for i in range(buttons.count())],
    }


def shot(page: Page, name: str, language: str, record: bool) -> None:
    if record:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / f"code-page-{language}-{name}.png", full_page=True)


def walk_the_states(
    page: Page,
    base_url: str,
    phone: str,
    language: str,
    outbox: list[Any],
    settings: Any,
    record: bool,
) -> list[dict[str, Any]]:
    """Wrong code, asked again within the cooldown, the countdown running out, a
    locked code, too many requests: what the pages show at each step."""
    texts = STATE_TEXTS[language]
    verify_url = f"{base_url}/sepsms/login/verify/"
    transcript: list[dict[str, Any]] = []
    page.goto(f"{base_url}/sepsms/login/")
    page.fill("input[name=phone]", phone)
    page.get_by_role("button", name=texts["send"]).click()
    expect(page).to_have_url(verify_url)
    resend, verify = page.locator("button[name=resend]"), page.locator("button[name=verify]")
    alert = page.get_by_role("alert")
    expect(resend).to_be_disabled()
    expect(resend).to_have_text(texts["waiting"])
    code = code_in(outbox[-1].message) if outbox else "123456"

    # 1. A wrong code: how many tries are left.
    page.fill("input[name=code]", wrong(code))
    verify.click()
    expect(alert).to_have_text(texts["wrong"])
    expect(page.get_by_role("link", name=texts["back"])).to_have_attribute("href", "/")
    shot(page, "1-wrong-code", language, record)
    transcript.append(seen(page))

    # 2. Asked again within the cooldown: "a code was just sent", a link to the code page.
    page.locator(".sepsms-links a").click()
    page.fill("input[name=phone]", phone)
    page.locator("form button[type=submit]").click()
    expect(alert).to_contain_text(texts["just_sent"])
    expect(alert).not_to_contain_text("Too many attempts")
    counter = alert.locator("[data-sepsms-seconds]")
    first = count_in(counter)
    expect(counter).not_to_have_text(counter.inner_text(), timeout=2_500)  # it ticks
    assert count_in(counter) < first
    shot(page, "2-cooldown-countdown", language, record)
    transcript.append(seen(page))
    alert.locator("a").click()
    expect(page).to_have_url(verify_url)
    expect(resend).to_be_disabled()
    expect(resend).to_have_text(texts["waiting"])
    shot(page, "3-cooldown-code-page", language, record)
    transcript.append(seen(page))

    # 3. The countdown runs out: the button unlocks by itself, with no reload.
    page.evaluate("window.sepsmsNotReloaded = true")
    expect(resend).to_be_enabled(timeout=(COOLDOWN + 3) * 1000)
    expect(resend).to_have_text(texts["resend"])
    assert page.evaluate("window.sepsmsNotReloaded === true")
    shot(page, "4-countdown-finished", language, record)
    transcript.append(seen(page))

    # 4. A new code, then five wrong ones: locked, Verify disabled, a new code the way out.
    settings.SEPSMS = {**settings.SEPSMS, "OTP_RESEND_COOLDOWN": 0}
    resend.click()
    expect(resend).to_be_enabled()
    code = code_in(outbox[-1].message) if outbox else "123456"
    for _ in range(5):
        page.fill("input[name=code]", wrong(code))
        verify.click()
        page.wait_for_load_state()
    expect(alert).to_have_text(texts["locked"])
    expect(verify).to_be_disabled()
    expect(page.locator("input[name=code]")).to_be_disabled()
    expect(resend).to_be_enabled()
    shot(page, "5-locked", language, record)
    transcript.append(seen(page))

    # 5. Over the number's limit (3 codes an hour): too many requests; the
    # code sent last stays, and the resend button waits as long as the limit.
    resend.click()
    expect(alert).to_have_count(0)
    expect(verify).to_be_enabled()
    reference = page.locator(".sepsms-ref").inner_text()
    resend.click()
    expect(alert).to_contain_text(texts["too_many"])
    expect(page.locator(".sepsms-ref")).to_have_text(reference)
    expect(resend).to_be_disabled()
    expect(verify).to_be_enabled()
    # The wait of the limit's window (django-ratelimit's fixed windows), in both places.
    # A wait that long is shown in minutes.
    wait = count_in(resend.locator("[data-sepsms-seconds]"))
    assert abs(count_in(alert.locator("[data-sepsms-seconds]")) - wait) <= 1
    expect(resend).to_have_text(texts["waiting_minutes"])
    shot(page, "6-too-many-requests", language, record)
    transcript.append(seen(page))
    return transcript


@pytest.mark.parametrize(("language", "locale"), [("en", "en-US"), ("th", "th-TH")])
def test_the_code_page_states_and_decoys_show_the_same(
    browser: Browser,
    live_server: Any,
    user: Any,
    sms_outbox: list[Any],
    settings: Any,
    language: str,
    locale: str,
) -> None:
    limits = {"otp_send_phone": "3/h"}
    transcripts = {}
    for phone in ("081-234-5678", UNKNOWN):
        cache.clear()
        settings.SEPSMS = {
            **settings.SEPSMS,
            "OTP_RESEND_COOLDOWN": COOLDOWN,
            "RATELIMITS": limits,
        }
        outbox = sms_outbox if phone != UNKNOWN else []
        with open_context(browser, live_server, locale) as ctx:
            page = ctx.new_page()
            transcripts[phone] = walk_the_states(
                page, live_server.url, phone, language, outbox, settings, phone != UNKNOWN
            )
    assert len(sms_outbox) == 3  # the registered number's codes; the decoy got none
    assert transcripts["081-234-5678"] == transcripts[UNKNOWN]


def test_without_javascript_the_page_still_works(
    browser: Browser, live_server: Any, user: Any, sms_outbox: list[Any], settings: Any
) -> None:
    """No script: the waits do not tick, the server keeps them, a reload shows the new state."""
    settings.SEPSMS = {**settings.SEPSMS, "OTP_RESEND_COOLDOWN": 2}
    with open_context(browser, live_server, javascript=False) as ctx:
        page = ctx.new_page()
        send_login_code(page, live_server.url)
        resend = page.locator("button[name=resend]")
        expect(resend).to_be_disabled()
        # In <noscript> (Chromium still parses it as if scripts ran: only its source shows).
        assert "Reload this page when the wait is over." in page.content()
        page.fill("input[name=code]", wrong(code_in(sms_outbox[-1].message)))
        page.locator("button[name=verify]").click()
        expect(page.get_by_role("alert")).to_have_text(WRONG_CODE_ERROR)
        page.wait_for_timeout(2_500)
        expect(resend).to_be_disabled()  # nothing ticks without the script
        page.goto(f"{live_server.url}/sepsms/login/verify/")  # a reload, less the POST
        expect(resend).to_be_enabled()
        expect(resend).to_have_text("Send a new code")
        page.fill("input[name=code]", code_in(sms_outbox[-1].message))
        page.locator("button[name=verify]").click()
        expect(page).to_have_url(f"{live_server.url}/sepsms/phone/")


@pytest.mark.parametrize(("language", "locale"), [("en", "en-US"), ("th", "th-TH")])
def test_the_just_sent_message_counts_down_to_ready(
    browser: Browser,
    live_server: Any,
    user: Any,
    sms_outbox: list[Any],
    language: str,
    locale: str,
) -> None:
    """The wait in the message ticks too, and then says a new code may be asked for
    (the browser's clock is run ahead: the default 60 s cooldown is not waited out)."""
    texts = STATE_TEXTS[language]
    with open_context(browser, live_server, locale) as ctx:
        page = ctx.new_page()
        page.clock.install()
        page.goto(f"{live_server.url}/sepsms/login/")
        for _ in range(2):
            page.fill("input[name=phone]", "0812345678")
            page.get_by_role("button", name=texts["send"]).click()
            page.wait_for_load_state()
            if page.url.endswith("/verify/"):
                page.locator(".sepsms-links a").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text(texts["just_sent"])
        counter = alert.locator("[data-sepsms-seconds]")
        first = count_in(counter)
        assert 50 <= first <= 60
        page.clock.run_for(3_000)
        assert count_in(counter) <= first - 3
        page.clock.run_for(first * 1_000)
        expect(alert).to_have_text(re.compile(re.escape(texts["ask_now"])))
        expect(alert).to_have_class(re.compile(r"\bsepsms-over\b"))
        expect(alert.locator("a")).to_have_attribute("href", "/sepsms/login/verify/")
        shot(page, "2b-cooldown-finished", language, True)
    assert len(sms_outbox) == 1


@pytest.mark.parametrize(("language", "locale"), [("en", "en-US"), ("th", "th-TH")])
def test_a_long_wait_counts_down_from_minutes_to_seconds(
    browser: Browser,
    live_server: Any,
    user: Any,
    sms_outbox: list[Any],
    settings: Any,
    language: str,
    locale: str,
) -> None:
    """A wait of 90 s or more reads in minutes (rounded up), a shorter one in seconds,
    in the button and in the message alike, as the count goes down."""
    settings.SEPSMS = {**settings.SEPSMS, "OTP_RESEND_COOLDOWN": 150}
    texts = STATE_TEXTS[language]
    with open_context(browser, live_server, locale) as ctx:
        page = ctx.new_page()
        page.clock.install()
        page.goto(f"{live_server.url}/sepsms/login/")
        page.fill("input[name=phone]", "0812345678")
        page.get_by_role("button", name=texts["send"]).click()
        expect(page).to_have_url(f"{live_server.url}/sepsms/login/verify/")
        page.wait_for_load_state("load")  # the countdown has started: the clock may run
        resend = page.locator("button[name=resend]")
        counter = resend.locator("[data-sepsms-seconds]")
        expect(counter).to_have_text(texts["minutes"])
        assert count_in(counter) == 3  # 150 s, less a moment: 3 min
        page.clock.run_for(62_000)  # under 90 s left
        expect(counter).to_have_text(texts["seconds"])
        assert 80 <= count_in(counter) <= 89
        expect(resend).to_have_text(texts["waiting"])

        page.locator(".sepsms-links a").click()
        page.fill("input[name=phone]", "0812345678")
        page.get_by_role("button", name=texts["send"]).click()
        notice = page.get_by_role("alert")
        expect(notice).to_contain_text(texts["just_sent"])
        page.wait_for_load_state("load")
        expect(notice).to_have_class(re.compile(r"\bsepsms-notice\b"))
        assert (
            notice.evaluate("box => getComputedStyle(box).backgroundColor") != "rgb(254, 242, 242)"
        )  # not the error's red
        message_counter = notice.locator("[data-sepsms-seconds]")
        expect(message_counter).to_have_text(texts["minutes"])  # the server's clock ran on
        page.clock.run_for(62_000)
        expect(message_counter).to_have_text(texts["seconds"])
        shot(page, "2c-just-sent-notice", language, True)
    assert len(sms_outbox) == 1
