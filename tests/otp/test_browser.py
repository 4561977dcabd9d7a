"""The phone pages in a real browser: the system Chromium driven by Playwright.

Everything runs on this machine: Django's live server on localhost, codes read from
the locmem outbox, and any request that is not for the live server is aborted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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

WRONG_CODE_ERROR = "That code is not right, or it has expired."
TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for this module (see ``running_chromium`` for why module-scoped)."""
    with running_chromium() as chromium:
        yield chromium


@pytest.fixture
def context(browser: Browser, django_db_setup: None, live_server: Any) -> Iterator[BrowserContext]:
    """A fresh profile (no cookies) that can reach the live server and nothing else.

    ``django_db_setup`` comes first: a live server started before the test database
    exists would share an in-memory SQLite connection between its threads.
    """
    ctx = browser.new_context(viewport={"width": 1024, "height": 720}, locale="en-US")
    ctx.set_default_timeout(TIMEOUT_MS)
    blocked: list[str] = []

    def only_live_server(route: Route) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_live_server)
    yield ctx
    ctx.close()
    assert not blocked, f"the pages asked for outside resources: {blocked}"


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
    expect(page.get_by_role("alert")).to_contain_text("Too many attempts. Please wait")
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
