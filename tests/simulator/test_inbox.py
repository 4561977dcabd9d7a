"""The inbox page and /_sim/inbox.json: newest first, escaped, searchable, paged."""

from __future__ import annotations

import re

import requests

from django_sepsms.simulator import Simulator
from django_sepsms.simulator.inbox import PAGE_SIZE
from tests.simulator.helpers import NUMBER, NUMBER_LOCAL, OTHER, send, send_otp, sent_uuid


class TestInbox:
    def test_html_escaped_newest_first(self, sim: Simulator) -> None:
        send(sim, message="first <b>Tom & Jerry</b>")
        sim.deliver_now()
        send(sim, message="second message", recipients=[OTHER])
        send_otp(sim)
        sim.deliver_now()
        response = requests.get(sim.inbox_url, timeout=5)
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        page = response.text
        assert '<meta http-equiv="refresh" content="3">' in page
        assert "first &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in page
        assert "<b>Tom" not in page
        code = sim.last_otp_code(NUMBER)
        assert code is not None
        assert page.index(code) < page.index("second message") < page.index("first &lt;b&gt;")
        assert "http://" not in page.replace(sim.inbox_url, "")  # nothing loaded from elsewhere

    def test_search_by_number_text_or_reference(self, sim: Simulator) -> None:
        send(sim, message="parcel on its way")
        send(sim, message="flash sale", recipients=[OTHER])
        reference = send_otp(sim).json()["result"]["reference"]
        sim.deliver_now()

        def texts(query: str) -> list[str]:
            answer = requests.get(
                sim.inbox_url + "_sim/inbox.json", params={"q": query}, timeout=5
            )
            return [item["text"] for item in answer.json()["items"]]

        assert texts("parcel") == ["parcel on its way"]
        assert texts("FLASH") == ["flash sale"]
        assert texts("089-876-5432") == ["flash sale"]  # 0… finds 66…
        assert len(texts(NUMBER_LOCAL)) == 2  # the parcel and the code
        assert len(texts(reference)) == 1
        assert len(texts("")) == 3
        page = requests.get(sim.inbox_url, params={"q": "parcel"}, timeout=5).text
        assert "parcel on its way" in page
        assert "flash sale" not in page
        assert 'value="parcel"' in page
        nothing = requests.get(sim.inbox_url, params={"q": "<i>x</i>"}, timeout=5).text
        assert "No SMS matches “&lt;i&gt;x&lt;/i&gt;”" in nothing

    def test_a_big_inbox_shows_the_newest_page(self, sim: Simulator) -> None:
        numbers = [f"668{i:08d}" for i in range(PAGE_SIZE + 50)]
        sim.credits = 10**6
        send(sim, message="to everyone", recipients=numbers[:1000])
        sim.deliver_now()
        page = requests.get(sim.inbox_url, timeout=5).text
        assert page.count("<tr><td>") == PAGE_SIZE
        assert f"The newest {PAGE_SIZE} of {len(numbers)} are shown." in page

    def test_empty_page(self, sim: Simulator) -> None:
        assert "No SMS yet" in requests.get(sim.inbox_url, timeout=5).text

    def test_json(self, sim: Simulator) -> None:
        sent_uuid(sim, message="hello json")
        sim.deliver_now()
        reference = send_otp(sim).json()["result"]["reference"]
        items = requests.get(sim.inbox_url + "_sim/inbox.json", timeout=5).json()["items"]
        assert [item["otpReference"] for item in items] == [reference, None]
        assert items[1]["text"] == "hello json"
        assert items[1]["status"] == "success"
        assert set(items[0]) >= {"time", "msisdn", "origin", "text", "smsUuid", "txId", "status"}


class TestInboxPage:
    def test_the_count_follows_the_search(self, sim: Simulator) -> None:
        send(sim, message="parcel on its way")
        send(sim, message="flash sale", recipients=[OTHER])
        send(sim, message="another parcel", recipients=[OTHER])
        sim.deliver_now()
        assert '<span class="count">3 SMS</span>' in requests.get(sim.inbox_url, timeout=5).text
        page = requests.get(sim.inbox_url, params={"q": "parcel"}, timeout=5).text
        assert '<span class="count">2 of 3 SMS</span>' in page
        assert page.count("<tr><td>") == 2
        nothing = requests.get(sim.inbox_url, params={"q": "nothing"}, timeout=5).text
        assert '<span class="count">0 of 3 SMS</span>' in nothing

    def test_a_search_stays_in_the_address_the_page_reloads(self, sim: Simulator) -> None:
        send(sim, message="parcel on its way")
        sim.deliver_now()
        page = requests.get(sim.inbox_url, params={"q": "parcel"}, timeout=5).text
        # A refresh without a URL of its own reloads this address, ?q= included.
        assert '<meta http-equiv="refresh" content="3">' in page
        assert 'value="parcel"' in page
        assert '<script src="/_sim/inbox.js" defer></script>' in page

    def test_nothing_inline_its_assets_served_by_the_simulator(self, sim: Simulator) -> None:
        page = requests.get(sim.inbox_url, timeout=5).text
        assert re.findall(r"<style|\sstyle=|<script(?![^>]*\ssrc=)", page) == []
        css = requests.get(sim.inbox_url + "_sim/inbox.css", timeout=5)
        assert css.status_code == 200
        assert css.headers["Content-Type"] == "text/css; charset=utf-8"
        assert ".status{" in css.text
        assert "white-space:nowrap" in css.text.split(".status{", 1)[1].split("}", 1)[0]
        script = requests.get(sim.inbox_url + "_sim/inbox.js", timeout=5)
        assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert "sessionStorage" in script.text
        assert requests.post(sim.inbox_url + "_sim/inbox.js", timeout=5).status_code == 405
