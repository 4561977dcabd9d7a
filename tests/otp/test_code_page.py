"""What the code page says in each state, in English and Thai, and what it ships with.

Each state is read from the flow in the session, never from the challenge, so the
decoy tests in ``test_enumeration.py`` find the same pages for unknown numbers.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.template.loader import get_template
from django.test import Client, override_settings
from django.urls import set_script_prefix
from django.utils import timezone, translation

import django_sepsms
from django_sepsms.models import OtpChallenge, PhoneNumber
from django_sepsms.otp.sessions import SESSION_KEY
from django_sepsms.otp.waits import wait_text

pytestmark = pytest.mark.django_db

LOCMEM = {
    "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
    "ORIGIN": "TESTSHOP",
    "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
}
VERIFY = "/sepsms/login/verify/"
LOCKED = "This code is locked after too many wrong tries: request a new one."
EXPIRED = "This code has expired: request a new one."
JUST_SENT = "A code was just sent to this number: enter it, or wait"
JUST_SENT_ELSEWHERE = "A code was just sent to this number: wait"
TOO_MANY = "Too many requests: please wait"
OLD_MESSAGE = "Too many attempts"
TH_LOCKED = "รหัสนี้ถูกล็อกแล้วเพราะกรอกผิดหลายครั้งเกินไป กรุณาขอรหัสใหม่"
TH_JUST_SENT = "เพิ่งส่งรหัสไปยังเบอร์นี้ กรอกรหัสนั้น หรือรอ"
TH_TOO_MANY = "มีคำขอมากเกินไป กรุณารอ"
TH_WRONG = "รหัสไม่ถูกต้อง เหลือโอกาสอีก 4 ครั้ง"
COUNTER = re.compile(r'data-sepsms-seconds="(\d+)">([^<]*)</span>')
APP = Path(django_sepsms.__file__).resolve().parent


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    cache.clear()


@pytest.fixture
def user() -> Any:
    from django.contrib.auth import get_user_model

    account = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=account, phone="66812345678", verified_at=timezone.now())
    return account


def start(client: Client, phone: str = "0812345678", **extra: Any) -> Any:
    return client.post("/sepsms/login/", {"phone": phone}, **extra)


def code_from(outbox: list[Any]) -> str:
    match = re.search(r"\b(\d{6,8})\b", outbox[-1].message)
    assert match
    return match.group(1)


def button(page: str, name: str) -> str:
    """The opening tag and label of the button called ``name``."""
    match = re.search(rf'<button type="submit" name="{name}"[^>]*>.*?</button>', page, re.S)
    assert match, page
    return match.group(0)


def counters(html: str) -> list[int]:
    """The waits counted down on a page; each shows its seconds as people read them."""
    found = COUNTER.findall(html)
    assert all(shown == wait_text(int(seconds)) for seconds, shown in found), found
    return [int(seconds) for seconds, _ in found]


def test_the_page_states_how_many_tries_are_left(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    start(client)
    first = client.post(VERIFY, {"code": "000000"}).content.decode()
    assert "That code is not right. You have 4 tries left." in first
    for _ in range(3):
        last = client.post(VERIFY, {"code": "000000"}).content.decode()
    assert "That code is not right. You have 1 try left." in last
    assert "disabled" not in button(last, "verify")


def test_a_locked_code_says_so_and_checks_nothing(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        start(client)
        code = code_from(sms_outbox)
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            client.post(VERIFY, {"code": wrong})
        page = client.get(VERIFY).content.decode()  # the state outlives the answer
        assert LOCKED in page
        assert 'role="alert"' in page
        assert "disabled" in button(page, "verify")
        assert re.search(r'<input type="text" name="code"[^>]* disabled', page)
        assert "disabled" not in button(page, "resend")  # the way out
        right = client.post(VERIFY, {"code": code})
        assert right.status_code == 400
        assert LOCKED in right.content.decode()
        assert OtpChallenge.objects.get().attempts == 5  # not checked again
        # A new code unlocks the page.
        assert client.post(VERIFY, {"resend": "1"}).status_code == 302
        fresh = client.get(VERIFY).content.decode()
        assert LOCKED not in fresh
        assert "disabled" not in button(fresh, "verify")
        assert client.post(VERIFY, {"code": code_from(sms_outbox)}).status_code == 302


def test_an_expired_code_says_so(client: Client, user: Any, sms_outbox: list[Any]) -> None:
    start(client)
    session = client.session
    flow = session[SESSION_KEY]
    flow["expires_at"] = (timezone.now() - timedelta(seconds=1)).isoformat()
    session[SESSION_KEY] = flow
    session.save()
    page = client.get(VERIFY).content.decode()
    assert EXPIRED in page
    assert "disabled" in button(page, "verify")
    answer = client.post(VERIFY, {"code": code_from(sms_outbox)})
    assert answer.status_code == 400
    assert EXPIRED in answer.content.decode()
    assert OtpChallenge.objects.get().attempts == 0


def test_asking_again_within_the_cooldown_points_to_the_code_page(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    start(client)
    again = start(client, "+66 81 234 5678")
    assert again.status_code == 429
    assert 1 <= int(again["Retry-After"]) <= 60
    page = again.content.decode()
    assert JUST_SENT in page
    assert OLD_MESSAGE not in page
    assert f'<a href="{VERIFY}">Enter the code</a>' in page
    assert counters(page) == [int(again["Retry-After"])]
    assert 'data-sepsms-done="You can ask for a new code now."' in page
    assert len(sms_outbox) == 1
    # The code page is still the first code's, and still takes it.
    assert client.post(VERIFY, {"code": code_from(sms_outbox)}).status_code == 302


def test_another_browser_asking_within_the_cooldown_gets_no_link(
    user: Any, sms_outbox: list[Any]
) -> None:
    start(Client())
    other = start(Client())
    assert other.status_code == 429
    page = other.content.decode()
    assert JUST_SENT_ELSEWHERE in page
    assert "Enter the code" not in page
    assert OLD_MESSAGE not in page


def test_a_resend_within_the_cooldown_keeps_the_code_and_waits(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    start(client)
    reference = client.session[SESSION_KEY]["reference"]
    page = client.get(VERIFY).content.decode()
    resend = button(page, "resend")
    assert "disabled" in resend
    assert 'data-sepsms-done="Send a new code"' in resend
    assert re.search(r"Send a new code in <span[^>]*>\d+ s</span>", resend)
    assert "<noscript>" in page  # without JavaScript: reload when the wait is over
    too_soon = client.post(VERIFY, {"resend": "1"})
    assert too_soon.status_code == 429
    html = too_soon.content.decode()
    assert JUST_SENT in html
    assert OLD_MESSAGE not in html
    assert "disabled" in button(html, "resend")
    assert "disabled" not in button(html, "verify")  # the code already sent still works
    assert client.session[SESSION_KEY]["reference"] == reference
    assert reference in html
    assert len(sms_outbox) == 1


def test_a_resend_over_a_limit_holds_the_button_as_long(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    settings = {**LOCMEM, "OTP_RESEND_COOLDOWN": 0, "RATELIMITS": {"otp_send_phone": "1/h"}}
    with override_settings(SEPSMS=settings):
        start(client)
        reference = client.session[SESSION_KEY]["reference"]
        refused = client.post(VERIFY, {"resend": "1"})
        assert refused.status_code == 429
        wait = int(refused["Retry-After"])  # what is left of the limit's hour
        html = refused.content.decode()
        assert TOO_MANY in html
        assert OLD_MESSAGE not in html
        assert client.session[SESSION_KEY]["reference"] == reference
        resend = button(html, "resend")
        assert "disabled" in resend
        assert counters(resend) == [pytest.approx(wait, abs=1)]
        # Reloaded, the page still waits (the bug was a button that looked ready).
        again = client.get(VERIFY).content.decode()
        assert "disabled" in button(again, "resend")
        assert "disabled" not in button(again, "verify")
    assert len(sms_outbox) == 1


def test_checks_over_a_limit_hold_the_verify_button(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    with override_settings(SEPSMS={**LOCMEM, "RATELIMITS": {"otp_verify_ip": "2/h"}}):
        start(client)
        for _ in range(2):
            assert client.post(VERIFY, {"code": "000000"}).status_code == 400
        refused = client.post(VERIFY, {"code": code_from(sms_outbox)})
        assert refused.status_code == 429
        html = refused.content.decode()
        assert TOO_MANY in html
        verify = button(html, "verify")
        assert "disabled" in verify
        assert 'data-sepsms-done="Verify"' in verify
        assert counters(verify) == [pytest.approx(int(refused["Retry-After"]), abs=1)]
        assert "disabled" in button(client.get(VERIFY).content.decode(), "verify")
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("path", ["/sepsms/login/", VERIFY])
def test_every_page_links_back_to_the_site(
    client: Client, user: Any, sms_outbox: list[Any], path: str
) -> None:
    start(client)
    page = client.get(path).content.decode()
    assert '<footer class="sepsms-site"><a href="/">Back to the site</a></footer>' in page


def test_the_link_back_follows_the_script_prefix(client: Client) -> None:
    """A site served under a prefix (``SCRIPT_NAME``, ``FORCE_SCRIPT_NAME``) links to it."""
    set_script_prefix("/shop/")  # as the WSGI handler does (the test client does not)
    try:
        page = client.get("/sepsms/login/").content.decode()
    finally:
        set_script_prefix("/")
    assert '<a href="/shop/">Back to the site</a>' in page


def test_the_states_speak_thai(client: Client, user: Any, sms_outbox: list[Any]) -> None:
    thai: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "th"}
    with translation.override("th"):
        start(client, **thai)
        wrong = client.post(VERIFY, {"code": "000000"}, **thai).content.decode()
        assert TH_WRONG in wrong
        cooldown = start(client, **thai).content.decode()
        assert TH_JUST_SENT in cooldown
        assert "กรอกรหัส</a>" in cooldown
        assert "วินาที" in cooldown
        resend = button(client.get(VERIFY, **thai).content.decode(), "resend")
        assert re.search(r"ขอรหัสใหม่ได้ใน <span[^>]*>\d+ วินาที</span>", resend)
        assert 'data-sepsms-done="ขอรหัสใหม่"' in resend
        for _ in range(4):
            locked = client.post(VERIFY, {"code": "000000"}, **thai).content.decode()
        assert TH_LOCKED in locked
        assert "กลับไปที่เว็บไซต์" in locked
    with (
        override_settings(SEPSMS={**LOCMEM, "RATELIMITS": {"otp_send_ip": "1/h"}}),
        translation.override("th"),
    ):
        assert start(Client(), "0912345678", **thai).status_code == 302
        over = start(Client(), "0922345678", **thai)
        assert over.status_code == 429
        assert TH_TOO_MANY in over.content.decode()


def test_the_pages_load_their_script_and_styles_from_static_files(client: Client) -> None:
    page = client.get("/sepsms/login/").content.decode()
    assert '<link rel="stylesheet" href="/static/django_sepsms/phone.css">' in page
    assert '<script src="/static/django_sepsms/countdown.js" defer></script>' in page
    for name in ("django_sepsms/phone.css", "django_sepsms/countdown.js"):
        assert finders.find(name), name


@pytest.mark.parametrize("name", sorted(p.name for p in (APP / "templates" / "sepsms").iterdir()))
def test_the_page_templates_are_csp_safe(name: str) -> None:
    source = (APP / "templates" / "sepsms" / name).read_text(encoding="utf-8")
    get_template(f"sepsms/{name}")  # it compiles
    assert "<style" not in source
    assert not re.search(r"\sstyle=", source)
    assert not re.search(r"<script(?![^>]*\ssrc=)", source), "an inline script"
    assert not re.search(r"\son[a-z]+=", source), "an inline event handler"


def test_the_static_files_are_shipped() -> None:
    """The wheel takes the whole package (hatchling), less what git ignores."""
    pyproject = tomllib.loads((APP.parent / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["django_sepsms"]
    assert "exclude" not in wheel
    assert "django_sepsms" in pyproject["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    files = [APP / "static" / "django_sepsms" / n for n in ("phone.css", "countdown.js")]
    assert all(f.is_file() for f in files)
    try:
        ignored = subprocess.run(
            ["git", "check-ignore", *map(str, files)],
            cwd=APP.parent,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("no git to ask")
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.stdout == ""


def test_a_rewound_flow_does_not_unlock_a_locked_code(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    """The page's state is only what the browser is shown: with a session rewound
    to its first state (as replaying an old signed cookie would), or with any
    number of tries written into it, the code stays locked where it is kept."""
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        start(client)
        code = code_from(sms_outbox)
        first = dict(client.session[SESSION_KEY])
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            client.post(VERIFY, {"code": wrong})
        for rewound in (first, {**first, "max_tries": 10**9}, {**first, "max_tries": -1}):
            session = client.session
            session[SESSION_KEY] = rewound
            session.save()
            right = client.post(VERIFY, {"code": code})
            assert right.status_code in (400, 429)
            assert "_auth_user_id" not in client.session
        assert OtpChallenge.objects.get().attempts == 5


@pytest.mark.parametrize(
    "odd",
    [
        {"expires_at": "2030-01-01T00:00:00"},  # written while USE_TZ was False
        {"resend_at": "2030-01-01T00:00:00", "verify_at": "2030-01-01T00:00:00"},
        {"expires_at": 12, "resend_at": ["x"], "verify_at": "not a time"},
        {"tries": "many", "max_tries": None},
        {"tries": float("inf"), "max_tries": float("nan")},
        {"expires_at": "9999-12-31T23:59:59+00:00", "resend_at": "0001-01-01T00:00:00-23:59"},
    ],
    ids=["naive-expiry", "naive-waits", "wrong-types", "odd-tries", "infinite-tries", "far"],
)
def test_a_flow_with_odd_times_is_a_page_not_a_5xx(
    client: Client, user: Any, sms_outbox: list[Any], odd: dict[str, Any]
) -> None:
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        start(client)
        session = client.session
        session[SESSION_KEY] = {**session[SESSION_KEY], **odd}
        session.save()
        assert client.get(VERIFY).status_code == 200
        assert client.post(VERIFY, {"code": "000000"}).status_code in (400, 429)
        assert client.post(VERIFY, {"resend": "1"}).status_code in (302, 429)


@pytest.mark.parametrize(
    ("language", "seconds", "shown"),
    [
        ("en", 2922, "49 min"),
        ("en", 90, "2 min"),
        ("en", 89, "89 s"),
        ("en", 1, "1 s"),
        ("th", 2922, "49 นาที"),
        ("th", 89, "89 วินาที"),
    ],
)
def test_long_waits_read_in_minutes(language: str, seconds: int, shown: str) -> None:
    with translation.override(language):
        assert wait_text(seconds) == shown


def test_an_hour_long_limit_is_shown_in_minutes(
    client: Client, user: Any, sms_outbox: list[Any], settings: Any
) -> None:
    """Over the number's hourly limit: the message and the button say minutes, not 2922 s."""
    settings.SEPSMS = {
        **settings.SEPSMS,
        "OTP_RESEND_COOLDOWN": 0,
        "RATELIMITS": {"otp_send_phone": "1/h"},
    }
    client.post("/sepsms/login/", {"phone": "0812345678"})
    page = client.post(VERIFY, {"resend": "1"})
    assert page.status_code == 429
    html = page.content.decode()
    assert re.search(r"Too many requests: please wait <span[^>]*>\d+ min</span>", html)
    assert re.search(r"Send a new code in <span[^>]*>\d+ min</span>", button(html, "resend"))
    assert not re.search(r"\d{3,} s\b", html)
    assert all(wait >= 90 for wait in counters(html))
    assert 'class="sepsms-error" role="alert"' in html  # a limit is an error


def test_a_code_just_sent_is_a_notice_not_an_error(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    client.post("/sepsms/login/", {"phone": "0812345678"})
    again = client.post("/sepsms/login/", {"phone": "0812345678"})
    assert again.status_code == 429
    html = again.content.decode()
    assert JUST_SENT in html
    assert 'class="sepsms-notice" role="alert"' in html
    assert "sepsms-error" not in html
    found = finders.find("django_sepsms/phone.css")
    assert isinstance(found, str)
    assert ".sepsms-notice {" in Path(found).read_text()
