"""The app's admin screens under a strict Content-Security-Policy, in a real browser.

Every document is served with ``default-src 'self'`` (added on the way by the
browser's request routing, so the same on every Django version). A superuser
opens the dashboard (with a pumping banner), the message list and page, the
recipients and the phone numbers; the browser must report no violation. See
docs/security.rst for the policy that suits Django's own admin pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from django_sepsms.otp.pumping import Episode
from tests.admin.test_browser_admin import DeliveryLog, _local_cache, browser, log  # noqa: F401
from tests.browser import ARTIFACTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

try:
    from playwright.sync_api import expect
except ImportError:  # not installed: every test here skips (fails on CI)
    expect = None  # type: ignore[assignment]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: The strict policy: nothing inline, nothing from elsewhere.
CSP = "default-src 'self'"
#: Records each violation the page sees, with where it came from (run before any page script).
WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def admin_page(django_db_setup: None, browser: Browser, live_server: Any) -> Iterator[Page]:  # noqa: F811
    """A superuser's browser, signed in, served every document under :data:`CSP`."""
    user = get_user_model().objects.create_superuser(
        username="root", password="not-used-here", email="root@example.com"
    )
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    ctx.set_default_timeout(5_000)
    ctx.add_cookies([{"name": name, "value": client.cookies[name].value, "url": live_server.url}])
    blocked: list[str] = []
    refused: list[str] = []

    def strict(route: Route) -> None:
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

    ctx.route("**/*", strict)
    ctx.add_init_script(WATCH_VIOLATIONS)
    page = ctx.new_page()
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page
    ctx.close()
    assert not blocked, f"the pages asked for outside resources: {blocked}"
    assert not refused, f"the pages broke the Content-Security-Policy: {refused}"


def visit(page: Page, url: str) -> list[str]:
    """Open ``url``, let its scripts run, and return the violations it saw."""
    response = page.goto(url)
    assert response is not None
    assert response.status == 200, url
    page.wait_for_load_state("load")
    return list(page.evaluate("window.__csp"))


def test_the_apps_admin_screens_need_nothing_inline(
    admin_page: Page,
    live_server: Any,
    log: DeliveryLog,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    episode = Episode(
        scope="6681",
        started_at=datetime.now(tz=UTC),
        sent=40,
        verified=1,
        refused=12,
        suspected=True,
        per_minute=2,
        window_minutes=10,
    )
    monkeypatch.setattr("django_sepsms.admin.dashboard.episodes", lambda: [episode])
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"{live_server.url}/admin/sepsms"
    pages = {
        "dashboard": f"{base}/message/dashboard/",
        "messages": f"{base}/message/",
        "message": f"{base}/message/{log.order.pk}/change/",
        "recipients": f"{base}/recipient/",
        "failed recipients": f"{base}/recipient/?status__exact=failed",
        "phone numbers": f"{base}/phonenumber/",
        "add a phone number": f"{base}/phonenumber/add/",
        # Django's own screens around them.
        "admin index": f"{live_server.url}/admin/",
        "the app's index": f"{base}/",
        "groups": f"{live_server.url}/admin/auth/group/",
        "add a group": f"{live_server.url}/admin/auth/group/add/",
    }
    seen = {name: visit(admin_page, url) for name, url in pages.items()}
    admin_page.goto(pages["dashboard"])
    expect(admin_page.get_by_text("+66 81")).not_to_have_count(0)
    admin_page.screenshot(path=ARTIFACTS / "admin-dashboard-csp.png", full_page=True)
    assert seen == {name: [] for name in pages}


def test_the_admin_login_page_needs_nothing_inline(admin_page: Page, live_server: Any) -> None:
    admin_page.context.clear_cookies()
    assert visit(admin_page, f"{live_server.url}/admin/login/?next=/admin/") == []
