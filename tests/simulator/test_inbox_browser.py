"""The inbox page in a real browser: what is typed in the search survives its reloads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from django_sepsms.simulator import Simulator
from django_sepsms.simulator.inbox import REFRESH_SECONDS
from tests.browser import running_chromium
from tests.simulator.helpers import OTHER, send

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with running_chromium() as chromium:
        yield chromium


def test_typing_in_the_search_survives_a_reload(browser: Browser, sim: Simulator) -> None:
    from playwright.sync_api import expect

    send(sim, message="parcel on its way")
    send(sim, message="flash sale", recipients=[OTHER])
    sim.deliver_now()
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(sim.inbox_url + "?q=parcel")
        expect(page.locator(".count")).to_have_text("1 of 2 SMS")
        search = page.get_by_role("searchbox", name="Search the inbox")
        search.fill("fla")
        with page.expect_navigation(timeout=(REFRESH_SECONDS + 3) * 1000):
            pass  # the page reloads itself
        assert page.url.endswith("?q=parcel")  # the search sent stays
        expect(search).to_have_value("fla")  # and so does the one being typed
        expect(search).to_be_focused()
        search.press("End")
        search.type("sh")
        search.press("Enter")
        page.wait_for_url("**/?q=flash")
        expect(page.locator(".count")).to_have_text("1 of 2 SMS")
        expect(page.locator("td.text")).to_have_text(["flash sale"])
        expect(search).to_have_value("flash")
    finally:
        context.close()
