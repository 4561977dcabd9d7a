"""The delivery log in the admin, in a real browser: the system Chromium driven by Playwright.

A support user (view permissions, not ``sepsms.view_full_phone``) looks at the message
list, one message and the dashboard; each page is screenshotted to ``tests/_artifacts/``.
Everything runs on this machine and any request that is not for the live server is aborted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from django_sepsms import send_otp, send_sms, verify_otp
from django_sepsms.backends.base import LOCAL_BALANCE
from django_sepsms.models import Message, Recipient
from tests.browser import ARTIFACTS, code_in, running_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, Route

try:
    from playwright.sync_api import expect
except ImportError:  # not installed: every test here skips (fails on CI)
    expect = None  # type: ignore[assignment]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 5_000
MODELS = ["message", "messagebatch", "recipient", "otpchallenge", "webhookevent", "phonenumber"]
SOMCHAI = "66812345678"  # 081-234-5678, masked 0xx-xxx-xx78
MASKED_SOMCHAI = "0xx-xxx-xx78"
FULL_FORMS = (SOMCHAI, "0812345678", "081-234-5678")


@dataclass
class DeliveryLog:
    order: Message  # to Somchai (failed) and 0xx-xxx-xx31 (delivered)
    promo: Message  # to 0xx-xxx-xx33 (failed), 0xx-xxx-xx66 and 0xx-xxx-xx99
    otp: Message  # the one-time code to Somchai, verified


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for this module (see ``running_chromium`` for why module-scoped)."""
    with running_chromium() as chromium:
        yield chromium


@pytest.fixture(autouse=True)
def _local_cache(settings: Any) -> None:
    # The live server runs in this process, so a local-memory cache is shared with it (and
    # the dashboard's cached balance and the origin filter's list start empty).
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "sepsms-browser-admin-tests",
        }
    }
    cache.clear()


def fail(message: Message, phone: str) -> None:
    """What a failed delivery report does to a recipient and its message's counters."""
    Recipient.objects.filter(message=message, phone=phone).update(
        status=Recipient.Status.FAILED, error_code="dr.failed", status_changed_at=timezone.now()
    )
    recipients = Recipient.objects.filter(message=message)
    Message.objects.filter(pk=message.pk).update(
        delivered_count=recipients.filter(status=Recipient.Status.SUCCESS).count(),
        failed_count=recipients.filter(status=Recipient.Status.FAILED).count(),
    )


@pytest.fixture
def log(sms_outbox: list[Any]) -> DeliveryLog:
    order = send_sms("Your order #1001 has shipped", ["081-234-5678", "0898765431"])
    promo = send_sms("Songkran sale: 20% off", ["0861112233", "0874445566", "0887778899"])
    fail(order, SOMCHAI)
    fail(promo, "66861112233")
    challenge = send_otp("081-234-5678")
    assert verify_otp(challenge.reference, code_in(sms_outbox[-1].message), phone=SOMCHAI)
    assert challenge.message is not None
    return DeliveryLog(order=order, promo=promo, otp=challenge.message)


@pytest.fixture
def page(django_db_setup: None, browser: Browser, live_server: Any) -> Iterator[Page]:
    """A support user's browser, signed in, that can reach the live server and nothing else.

    ``django_db_setup`` comes first so that the (session-wide) live server starts after the
    test database exists: started earlier, on SQLite it would see the ``:memory:`` database
    and share this thread's connection with its request threads, which crashes under the
    admin's parallel requests.
    """
    user = get_user_model().objects.create_user(
        username="support", password="not-used-here", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(codename__in=[f"view_{m}" for m in MODELS])
    )
    assert not user.has_perm("sepsms.view_full_phone")
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    ctx: BrowserContext = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US"
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.add_cookies([{"name": name, "value": client.cookies[name].value, "url": live_server.url}])
    blocked: list[str] = []

    def only_live_server(route: Route) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_live_server)
    ARTIFACTS.mkdir(exist_ok=True)
    yield ctx.new_page()
    ctx.close()
    assert not blocked, f"the pages asked for outside resources: {blocked}"


def assert_no_full_number(page: Page, forms: tuple[str, ...] = FULL_FORMS) -> None:
    html = page.content()
    for form in forms:
        assert form not in html, form


def cells(rows: Locator, column: int) -> list[str]:
    return [text.strip() for text in rows.locator(f"td:nth-child({column})").all_inner_texts()]


def module(page: Page, heading: str | re.Pattern[str]) -> Locator:
    """The admin ``.module`` box titled ``heading``."""
    return page.locator(".module", has=page.get_by_role("heading", name=heading))


def test_message_list_shows_badges_and_searches_by_phone(
    page: Page, live_server: Any, log: DeliveryLog
) -> None:
    page.goto(f"{live_server.url}/admin/sepsms/message/")
    expect(page.get_by_role("heading", name="Select message to view")).to_be_visible()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    badges = page.locator("#result_list td.field-status_badge span")
    expect(badges).to_have_count(3)
    expect(badges).to_have_text(["Completed"] * 3)
    # A badge is a coloured pill: white text on green for completed.
    assert badges.first.evaluate("el => getComputedStyle(el).backgroundColor") == (
        "rgb(21, 128, 61)"
    )
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "admin-messages.png", full_page=True)

    page.fill("#searchbar", "081-234-5678")
    page.press("#searchbar", "Enter")
    expect(page).to_have_url(re.compile(r"\?q=081-234-5678$"))
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list td.field-preview")).to_have_text(
        [re.compile(r"\*{6} \(Ref: [A-Z0-9]+\)$"), "Your order #1001 has shipped"]
    )
    links = rows.locator("th a, td a").evaluate_all("links => links.map(a => a.pathname)")
    assert links == [f"/admin/sepsms/message/{m.pk}/change/" for m in (log.otp, log.order)]
    # The number typed is echoed back (search box, filter links); never the stored form.
    assert_no_full_number(page, FULL_FORMS[:2])


def test_message_page_masks_the_recipients(page: Page, live_server: Any, log: DeliveryLog) -> None:
    page.goto(f"{live_server.url}/admin/sepsms/message/{log.order.pk}/change/")
    recipients = module(page, "Recipients (2)")
    expect(recipients).to_be_visible()
    rows = recipients.locator("tbody tr")
    expect(rows).to_have_count(2)
    assert cells(rows, 1) == [MASKED_SOMCHAI, "0xx-xxx-xx31"]
    assert cells(rows, 2) == ["Failed", "Delivered"]
    assert cells(rows, 4) == ["dr.failed", ""]
    expect(page.locator(".field-delivered_count .readonly")).to_have_text("1")
    expect(page.locator(".field-failed_count .readonly")).to_have_text("1")
    assert_no_full_number(page)
    page.screenshot(path=ARTIFACTS / "admin-message.png", full_page=True)


def test_dashboard(page: Page, live_server: Any, log: DeliveryLog) -> None:
    page.goto(f"{live_server.url}/admin/sepsms/message/dashboard/")
    expect(page.get_by_role("heading", name="SMS dashboard")).to_be_visible()

    chart = page.get_by_role("img", name="Recipients per day")
    expect(chart).to_be_visible()
    assert chart.evaluate("el => el.tagName") == "svg"
    bars = chart.locator("rect")
    assert bars.count() == 30 * 3  # sent, delivered and failed for each of 30 days
    today = bars.filter(has_text=re.compile(r" sent: 6$"))
    expect(today).to_have_count(1)
    assert float(today.get_attribute("height") or 0) > 0

    tiles = page.locator(".sepsms-tile")
    expect(tiles.nth(0)).to_contain_text("Credit balance")
    expect(tiles.nth(0).locator(".n")).to_have_text(f"{LOCAL_BALANCE:,}")
    expect(tiles.locator(".n")).to_have_text([f"{LOCAL_BALANCE:,}", "6", "4", "2"])

    funnel = module(page, "One-time codes, last 7 days").locator("tr:has(td) td")
    expect(funnel).to_have_text(["1", "1", "100%", "0"])

    failures = module(page, "Latest failures").locator("tr:has(td)")
    expect(failures).to_have_count(2)
    assert cells(failures, 1) == [f"#{log.promo.pk}", f"#{log.order.pk}"]
    assert cells(failures, 2) == ["0xx-xxx-xx33", MASKED_SOMCHAI]
    assert cells(failures, 4) == ["dr.failed", "dr.failed"]
    assert_no_full_number(page)
    page.screenshot(path=ARTIFACTS / "admin-dashboard.png", full_page=True)
