"""Phone login and adding a number through the HTML pages, and the OTP security rules."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from django_sepsms.models import OtpChallenge, PhoneNumber
from django_sepsms.otp.sessions import SESSION_KEY
from tests.twins import wsgi_and_asgi

pytestmark = pytest.mark.django_db

#: Every test here runs through the WSGI handler, then through the ASGI one.
handler, client = wsgi_and_asgi(
    globals(),
    wsgi_only={
        "test_unknown_numbers_look_exactly_like_known_ones": (
            "with no answer floor it compares the raw durations of two first requests, which an "
            "ASGI loop's own start-up outweighs; tests/test_asgi.py compares them with the floor"
        )
    },
)

LOCMEM = {
    "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
    "ORIGIN": "TESTSHOP",
    "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
}
GENERIC = "That code is not right, or it has expired."
LOCKED = "This code is locked after too many wrong tries: request a new one."


def wrong_code(tries_left: int) -> str:
    tries = "try" if tries_left == 1 else "tries"
    return f"That code is not right. You have {tries_left} {tries} left."


def code_from(outbox: list[Any]) -> str:
    match = re.search(r"\b(\d{6,8})\b", outbox[-1].message)
    assert match
    return match.group(1)


@pytest.fixture
def user() -> Any:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    return user


def start(client: Client, phone: str, path: str = "/sepsms/login/", **extra: Any) -> Any:
    return client.post(path, {"phone": phone}, **extra)


def test_login_end_to_end(client: Client, user: Any, sms_outbox: list[Any]) -> None:
    assert client.get("/sepsms/login/").status_code == 200
    assert sms_outbox == []  # a GET never sends
    response = start(client, "081-234-5678")
    assert response.status_code == 302
    assert response["Location"] == "/sepsms/login/verify/"
    assert sms_outbox[-1].recipients == ["66812345678"]
    page = client.get("/sepsms/login/verify/").content.decode()
    reference = client.session[SESSION_KEY]["reference"]
    assert "0xx-xxx-xx78" in page
    assert f'Ref: <span class="sepsms-ref">{reference}</span>' in page
    assert 'inputmode="numeric"' in page
    assert 'autocomplete="one-time-code"' in page
    before = client.session.session_key
    response = client.post("/sepsms/login/verify/", {"code": code_from(sms_outbox)})
    assert response.status_code == 302
    assert response["Location"] == "/done/"
    assert client.session.session_key != before  # rotated
    assert str(client.session["_auth_user_id"]) == str(user.pk)
    assert SESSION_KEY not in client.session


def test_next_is_honoured_only_when_safe(client: Client, user: Any, sms_outbox: list[Any]) -> None:
    start(client, "0812345678", "/sepsms/login/?next=/account/")
    response = client.post("/sepsms/login/verify/", {"code": code_from(sms_outbox)})
    assert response["Location"] == "/account/"
    client.logout()
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        start(client, "0812345678", "/sepsms/login/?next=https://evil.example/")
        response = client.post("/sepsms/login/verify/", {"code": code_from(sms_outbox)})
    assert response["Location"] == "/done/"


def test_wrong_codes_count_down_then_lock_the_code(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    start(client, "0812345678")
    code = code_from(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    responses = [client.post("/sepsms/login/verify/", {"code": wrong}) for _ in range(5)]
    assert {r.status_code for r in responses} == {400}
    pages = [r.content.decode() for r in responses]
    for page, left in zip(pages[:4], [4, 3, 2, 1], strict=True):
        assert wrong_code(left) in page
        assert LOCKED not in page
    assert LOCKED in pages[4]
    assert GENERIC not in "".join(pages)  # the reason is never guessed at
    exhausted = client.post("/sepsms/login/verify/", {"code": code})  # right, but too late
    assert exhausted.status_code == 400
    assert LOCKED in exhausted.content.decode()
    assert '<button type="submit" name="verify" disabled>' in exhausted.content.decode()
    assert "_auth_user_id" not in client.session
    challenge = OtpChallenge.objects.get()
    assert challenge.status == OtpChallenge.Status.EXHAUSTED
    assert challenge.attempts == 5  # the locked page checked nothing more


def test_unknown_numbers_look_exactly_like_known_ones(user: Any, sms_outbox: list[Any]) -> None:
    known, unknown = Client(), Client()
    t0 = time.monotonic()
    a = start(known, "0812345678")
    t1 = time.monotonic()
    b = start(unknown, "0898765432")
    t2 = time.monotonic()
    assert (a.status_code, a["Location"]) == (b.status_code, b["Location"])
    assert sorted(a.cookies) == sorted(b.cookies)
    assert len(sms_outbox) == 1  # only the registered number got an SMS
    page_a = known.get("/sepsms/login/verify/").content.decode()
    page_b = unknown.get("/sepsms/login/verify/").content.decode()
    strip = re.compile(
        r"Ref: <span[^>]*>\w+</span>|name=\"csrfmiddlewaretoken\" value=\"\w+\"|0x+-x+-x+\d+"
    )
    assert strip.sub("", page_a) == strip.sub("", page_b)
    # The decoy takes about as long as a real send (here both are fast and local).
    assert (t2 - t1) >= 0.5 * min(t1 - t0, 0.1)
    # The decoy can never be verified, and fails with the same answer.
    c = unknown.post("/sepsms/login/verify/", {"code": "123456"})
    d = known.post("/sepsms/login/verify/", {"code": "000001"})
    assert c.status_code == d.status_code == 400
    assert wrong_code(4) in c.content.decode()
    assert wrong_code(4) in d.content.decode()
    assert OtpChallenge.objects.filter(phone="66898765432").count() == 0


def test_sign_up_when_allowed(client: Client, sms_outbox: list[Any]) -> None:
    with override_settings(SEPSMS={**LOCMEM, "LOGIN_CREATE_USERS": True}):
        start(client, "0898765432")
        response = client.post("/sepsms/login/verify/", {"code": code_from(sms_outbox)})
    assert response.status_code == 302
    number = PhoneNumber.objects.get(phone="66898765432")
    assert str(client.session["_auth_user_id"]) == str(number.user.pk)
    assert not number.user.has_usable_password()


def test_flow_is_bound_to_its_session(user: Any, sms_outbox: list[Any]) -> None:
    victim, attacker = Client(), Client()
    start(victim, "0812345678")
    code = code_from(sms_outbox)
    # Another session has no flow: it is sent back to step 1 and nothing is checked.
    response = attacker.post("/sepsms/login/verify/", {"code": code})
    assert response.status_code == 302
    assert response["Location"] == "/sepsms/login/"
    # Even with its own flow for another number, the victim's code is useless.
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        start(attacker, "0912345678")
    assert attacker.post("/sepsms/login/verify/", {"code": code}).status_code == 400
    assert victim.post("/sepsms/login/verify/", {"code": code}).status_code == 302


def test_post_needs_csrf(user: Any, sms_outbox: list[Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    assert start(client, "0812345678").status_code == 403
    assert sms_outbox == []


def test_bad_number_is_refused_before_any_send(client: Client, sms_outbox: list[Any]) -> None:
    response = start(client, "02 123 4567")
    assert response.status_code == 400
    assert "not a valid mobile phone number" in response.content.decode()
    assert sms_outbox == []


def test_resend_cooldown_then_new_reference(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    start(client, "0812345678")
    page = client.get("/sepsms/login/verify/").content.decode()
    assert "disabled" in page
    too_soon = client.post("/sepsms/login/verify/", {"resend": "1"})
    assert too_soon.status_code == 429
    assert 1 <= int(too_soon["Retry-After"]) <= 60
    assert len(sms_outbox) == 1
    first = client.session[SESSION_KEY]["reference"]
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        assert client.post("/sepsms/login/verify/", {"resend": "1"}).status_code == 302
    second = client.session[SESSION_KEY]["reference"]
    assert second != first
    assert OtpChallenge.objects.get(reference=first).status == OtpChallenge.Status.CANCELLED
    response = client.post("/sepsms/login/verify/", {"code": code_from(sms_outbox)})
    assert response.status_code == 302


def test_number_limits_share_one_bucket_whatever_the_format(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        codes = [
            start(Client(), raw).status_code
            for raw in ["0812345678", "+66 81-234-5678", "66812345678", "081 234 5678"]
        ]
    assert codes == [302, 302, 302, 429]
    assert len(sms_outbox) == 3


def test_per_ip_and_global_caps_stop_sms_pumping(sms_outbox: list[Any]) -> None:
    settings = {
        **LOCMEM,
        "OTP_RESEND_COOLDOWN": 0,
        "LOGIN_CREATE_USERS": True,
        "RATELIMITS": {"otp_send_ip": "5/h"},
    }
    with override_settings(SEPSMS=settings):
        statuses = [start(Client(), f"08123456{i:02d}").status_code for i in range(8)]
    assert statuses == [302] * 5 + [429] * 3
    assert len(sms_outbox) == 5
    settings["RATELIMITS"] = {"otp_send_ip": None, "otp_send_global": "3/h"}
    with override_settings(SEPSMS=settings):
        statuses = [
            start(Client(REMOTE_ADDR=f"10.0.0.{i}"), f"09123456{i:02d}").status_code
            for i in range(5)
        ]
    assert statuses == [302, 302, 302, 429, 429]


def test_x_forwarded_for_is_ignored_unless_a_proxy_is_trusted(sms_outbox: list[Any]) -> None:
    settings = {
        **LOCMEM,
        "OTP_RESEND_COOLDOWN": 0,
        "LOGIN_CREATE_USERS": True,
        "RATELIMITS": {"otp_send_ip": "2/h"},
    }
    with override_settings(SEPSMS=settings):
        spoofed = [
            start(Client(), f"08123456{i:02d}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
            for i in range(3)
        ]
    assert spoofed == [302, 302, 429]
    with override_settings(SEPSMS={**settings, "TRUSTED_PROXIES": ["127.0.0.1"]}):
        proxied = [
            start(Client(), f"09123456{i:02d}", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
            for i in range(3)
        ]
    assert proxied == [302, 302, 302]


def test_failures_count_per_number_across_resends(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    settings = {**LOCMEM, "OTP_RESEND_COOLDOWN": 0, "RATELIMITS": {"otp_verify_phone": "6/h"}}
    with override_settings(SEPSMS=settings):
        for _ in range(2):
            start(client, "0812345678")
            for _ in range(3):
                assert client.post("/sepsms/login/verify/", {"code": "000000"}).status_code == 400
        start(client, "0812345678")  # a fresh code does not reset the count
        locked = client.post("/sepsms/login/verify/", {"code": code_from(sms_outbox)})
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session


def test_add_a_phone_number(client: Client, user: Any, sms_outbox: list[Any]) -> None:
    assert client.get("/sepsms/phone/").status_code == 302  # sign in first
    client.force_login(user)
    response = start(client, "0912345678", "/sepsms/phone/")
    assert response["Location"] == "/sepsms/phone/verify/"
    done = client.post("/sepsms/phone/verify/", {"code": code_from(sms_outbox)})
    assert done.status_code == 200
    assert "Phone number added" in done.content.decode()
    numbers = dict(PhoneNumber.objects.filter(user=user).values_list("phone", "is_primary"))
    assert numbers == {"66812345678": False, "66912345678": True}


def test_another_accounts_number_gets_a_decoy(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    other = get_user_model().objects.create_user(username="other", password="x")
    client.force_login(other)
    assert start(client, "0812345678", "/sepsms/phone/").status_code == 302
    assert sms_outbox == []
    assert client.post("/sepsms/phone/verify/", {"code": "123456"}).status_code == 400
    assert PhoneNumber.objects.get(phone="66812345678").user == user


def test_provider_trouble_answers_like_any_code_request(
    client: Client, user: Any, sim: Any
) -> None:
    # A decoy could not answer otherwise: the failure is recorded, not shown.
    sim.fail_next("/otp/send", status=503, times=10)
    response = start(client, "0812345678")
    assert response.status_code == 302
    assert response["Location"] == "/sepsms/login/verify/"
    challenge = OtpChallenge.objects.get()
    assert challenge.status == OtpChallenge.Status.UNCONFIRMED  # a 5xx may follow a send
    assert challenge.error_code


def test_provider_login_through_the_simulator(client: Client, user: Any, sim: Any) -> None:
    start(client, "0812345678")
    code = sim.last_otp_code("66812345678")
    assert client.post("/sepsms/login/verify/", {"code": code}).status_code == 302


def test_a_code_typed_in_thai_digits_logs_in(
    client: Client, user: Any, sms_outbox: list[Any]
) -> None:
    start(client, "0812345678")
    thai = code_from(sms_outbox).translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
    response = client.post("/sepsms/login/verify/", {"code": thai})
    assert response.status_code == 302
    assert str(client.session["_auth_user_id"]) == str(user.pk)


def test_the_code_field_lets_browsers_submit_thai_and_spaced_codes() -> None:
    from django_sepsms.otp.forms import CodeForm

    pattern = CodeForm().fields["code"].widget.attrs["pattern"]
    for typed in ("123456", "๑๒๓๔๕๖", "\uff11\uff12\uff13\uff14\uff15\uff16", "123 456"):
        assert re.fullmatch(pattern, typed), typed
    assert not re.fullmatch(pattern, "12345a")


@pytest.mark.parametrize(
    ("typed", "ok"),
    [("1234 5678", True), ("1 2 3 4 5 6", True), ("123", False), ("123456789", False)],
)
def test_the_code_field_counts_digits_not_spaces(typed: str, ok: bool) -> None:
    from django_sepsms.otp.forms import CodeForm

    form = CodeForm({"code": typed})
    assert form.is_valid() is ok
    if ok:
        assert form.cleaned_data["code"] == typed.replace(" ", "")
