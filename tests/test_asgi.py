"""Under a real ASGI server (uvicorn): the webhook, the phone pages, and async views
that await the async twins; and the twins leave the event loop free while they work.

The server is a subprocess serving ``tests.asgi`` on a socket this process bound
(no port race), against the test database, with the console backend: the codes
are read from its output. Its readiness is polled, never waited for blindly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import pytest
import requests
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.utils import timezone

import django_sepsms
from django_sepsms.backends.locmem import LocmemBackend
from django_sepsms.models import Message, OtpChallenge, PhoneNumber, Recipient, WebhookEvent
from django_sepsms.testing import webhook_body, webhook_headers
from tests.backends import FixedUuidBackend

pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_test_current"
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _database_url() -> str:
    """The test database, as ``tests.settings`` reads ``DATABASE_URL``."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return "sqlite:///" + str(db["NAME"])
    user = quote(str(db["USER"] or "postgres"))
    password = f":{quote(str(db['PASSWORD']))}" if db["PASSWORD"] else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{user}{password}@{host}/{db['NAME']}"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")

    def code_for(self, phone: str, seen: int = 0) -> str:
        """The last code the console backend wrote for ``phone`` (polled, up to 10 s)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sent = re.findall(rf"to {phone}\n.*?\b(\d{{6}})\b", self.output())
            if len(sent) > seen:
                return sent[-1]
            time.sleep(0.05)
        raise AssertionError(f"no code for {phone} in:\n{self.output()[-2000:]}")


@pytest.fixture(scope="module")
def server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Server]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.asgi_settings",
        "DATABASE_URL": _database_url(),
        "SEPSMS_TEST_CACHE_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "uvicorn", "tests.asgi:application"]
    command += ["--fd", str(sock.fileno()), "--lifespan", "off", "--no-access-log"]
    with tempfile.NamedTemporaryFile(prefix="sepsms-uvicorn-", suffix=".log") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            pass_fds=[sock.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        running = Server(url, process, log)
        try:
            _wait_until_ready(running)
            yield running
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            sock.close()


def _wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"uvicorn exited:\n{server.output()}")
        try:
            if requests.get(server.url + "/sepsms/login/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.05)
    raise AssertionError(f"uvicorn did not answer in time:\n{server.output()}")


@pytest.fixture
def user(transactional_db: Any) -> Any:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    return user


def _form_post(session: requests.Session, url: str, **fields: str) -> requests.Response:
    page = session.get(url, timeout=10)
    assert page.status_code == 200, page.text
    token = _CSRF.search(page.text)
    assert token, page.text
    return session.post(
        url, data={"csrfmiddlewaretoken": token.group(1), **fields}, allow_redirects=False
    )


def test_phone_login_and_adding_a_number_over_http(server: Server, user: Any) -> None:
    browser = requests.Session()
    login = server.url + "/sepsms/login/"
    answer = _form_post(browser, login, phone="081-234-5678")
    assert (answer.status_code, answer.headers["Location"]) == (302, "/sepsms/login/verify/")
    code = server.code_for("66812345678")
    verify = server.url + "/sepsms/login/verify/"
    wrong = _form_post(browser, verify, code="000000" if code != "000000" else "111111")
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.text
    before = browser.cookies["sessionid"]
    answer = _form_post(browser, verify, code=code)
    assert (answer.status_code, answer.headers["Location"]) == (302, "/done/")
    assert browser.cookies["sessionid"] != before  # the session was rotated
    # Signed in: the add-a-number pages.
    answer = _form_post(browser, server.url + "/sepsms/phone/", phone="0912345678")
    assert (answer.status_code, answer.headers["Location"]) == (302, "/sepsms/phone/verify/")
    code = server.code_for("66912345678")
    answer = _form_post(browser, server.url + "/sepsms/phone/verify/", code=code)
    assert answer.status_code == 200
    assert PhoneNumber.objects.get(phone="66912345678", user=user).is_primary
    assert OtpChallenge.objects.filter(status=OtpChallenge.Status.VERIFIED).count() == 2


def test_known_and_unknown_numbers_answer_alike_over_http(server: Server, user: Any) -> None:
    """With the answer floor on (0.3 s in the server's settings), a real code request and
    a decoy end at one deadline under ASGI too: the wait runs in the request's own thread."""
    timings = []
    for phone in ("0812345678", "0898765432"):
        browser = requests.Session()
        started = time.monotonic()
        answer = _form_post(browser, server.url + "/sepsms/login/", phone=phone)
        timings.append(time.monotonic() - started)
        assert (answer.status_code, answer.headers["Location"]) == (302, "/sepsms/login/verify/")
    assert min(timings) >= 0.3
    assert abs(timings[0] - timings[1]) < 0.25, timings
    assert OtpChallenge.objects.filter(phone="66898765432").count() == 0
    assert OtpChallenge.objects.filter(phone="66812345678").count() == 1


@pytest.fixture
def sent(transactional_db: Any) -> Iterator[Message]:
    FixedUuidBackend.next_uuid = "sms-asgi"
    with override_settings(
        SEPSMS={**settings.SEPSMS, "BACKEND": "tests.backends.FixedUuidBackend"}
    ):
        yield django_sepsms.send_sms("Hi", ["0812345678", "0912345678"])


def _report(msisdn: str) -> bytes:
    return webhook_body(
        {"smsUuid": "sms-asgi", "msisdn": msisdn, "txId": "t", "status": "success"}
    )


def test_a_signed_webhook_over_http(server: Server, sent: Message) -> None:
    url = server.url + "/sepsms/webhook/"
    body = _report("66812345678")
    headers = {**webhook_headers(body, SECRET), "Content-Type": "application/json"}
    first = requests.post(url, data=body, headers=headers, timeout=10)
    assert (first.status_code, first.json()) == (200, {"status": "ok"})
    again = requests.post(url, data=body, headers=headers, timeout=10)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    forged = requests.post(url, data=body.replace(b"success", b"failed"), headers=headers)
    assert forged.status_code == 400
    # Chunked, with no Content-Length: the ASGI server hands the whole body on.
    body = _report("66912345678")
    headers = {**webhook_headers(body, SECRET), "Content-Type": "application/json"}
    chunked = requests.post(url, data=iter([body[:10], body[10:]]), headers=headers, timeout=10)
    assert (chunked.status_code, chunked.json()) == (200, {"status": "ok"})
    assert set(Recipient.objects.values_list("status", flat=True)) == {"success"}
    assert WebhookEvent.objects.count() == 2
    assert requests.get(url, timeout=10).status_code == 405


def test_async_views_await_the_twins_over_http(server: Server, transactional_db: Any) -> None:
    def call(path: str, **data: str) -> Any:
        answer = requests.post(server.url + path, data=json.dumps(data), timeout=10)
        assert answer.status_code == 200, server.output()[-2000:]
        return answer.json()

    assert call("/async/sms/", text="Hello", phone="0812345678") == {
        "status": Message.Status.COMPLETED,
        "recipients": 1,
    }
    assert call("/async/bulk/", text="Sale", phones="0812345678,0912345678,12") == {
        "recorded": 2,
        "refused": 1,
    }
    reference = call("/async/otp/", phone="0861112222")["reference"]
    code = server.code_for("66861112222")
    wrong = "000000" if code != "000000" else "111111"
    assert call("/async/otp/verify/", reference=reference, pin=wrong) == {
        "verified": False,
        "reason": "wrong",
    }
    assert call("/async/otp/verify/", reference=reference, pin=code) == {
        "verified": True,
        "reason": "verified",
    }
    assert call("/async/otp/verify/", reference=reference, pin=code)["reason"] == "used"
    answer = requests.get(server.url + "/async/balance/", timeout=10)
    assert answer.json() == {"balance": LocmemBackend().get_balance()}
    assert Message.objects.count() == 3


# -- the event loop stays free ------------------------------------------------------


class SlowBackend(LocmemBackend):
    """Locmem that takes a while over each provider call, as a distant provider would."""

    delay = 0.3

    def deliver(self, sms: Any) -> None:
        time.sleep(self.delay)
        super().deliver(sms)

    def get_balance(self) -> int:
        time.sleep(self.delay)
        return super().get_balance()


TWINS: dict[str, Callable[[], Awaitable[Any]]] = {
    "asend_sms": lambda: django_sepsms.asend_sms("Hi", "0812345678", backend=SlowBackend()),
    "asend_otp": lambda: django_sepsms.asend_otp("0812345678", backend=SlowBackend()),
    "aget_balance": lambda: django_sepsms.aget_balance(backend=SlowBackend()),
    "asend_bulk": lambda: django_sepsms.asend_bulk("Hi", ["0812345678"]),
}


@pytest.mark.django_db
@pytest.mark.parametrize("twin", sorted(TWINS))
def test_a_twin_leaves_the_event_loop_free(twin: str) -> None:
    async def scenario() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            await TWINS[twin]()
        finally:
            ticker.cancel()
        return ticks

    slow = {**settings.SEPSMS, "BACKEND": f"{__name__}.SlowBackend"}
    with override_settings(SEPSMS=slow):
        ticks = async_to_sync(scenario)()
    # The loop went on ticking through the 0.3 s the backend took.
    assert ticks >= 10
