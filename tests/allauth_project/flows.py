"""django-allauth's own phone pages, their codes sent through django-sepsms.

Run under ``--ds=tests.allauth_project.settings`` (``tests/test_allauth.py``
starts it): allauth's signup, phone verification and login-by-code views,
driven with Django's test client, on the locmem backend.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from django_sepsms.checks import check_settings
from django_sepsms.contrib.allauth import check_allauth_settings
from django_sepsms.models import Message, PhoneNumber

pytestmark = pytest.mark.django_db

PHONE, MSISDN = "+66812345678", "66812345678"
OTHER = "+66898765432"
#: No cooldown between two codes to one number.
NO_COOLDOWN = {**settings.SEPSMS, "OTP_RESEND_COOLDOWN": 0}


def code_in(outbox: list[Any], msisdn: str = MSISDN) -> str:
    (sms,) = [m for m in outbox if m.recipients == [msisdn]]
    found = re.search(r"\b(\d{6})\b", sms.message)
    assert found, sms.message
    return found[1]


def make_user(phone: str = MSISDN, username: str = "somchai") -> Any:
    user = get_user_model().objects.create_user(username)
    PhoneNumber.objects.create(user=user, phone=phone, verified_at=timezone.now())
    return user


def logged_in(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def request_login_code(client: Client, phone: str = PHONE) -> Any:
    return client.post(reverse("account_request_login_code"), {"phone": phone})


def test_signup_by_phone_verifies_the_number_and_logs_in(sms_outbox: list[Any]) -> None:
    client = Client()
    page = client.post(reverse("account_signup"), {"phone": PHONE})
    assert page.status_code == 302, page.content.decode()[:2000]
    assert page["Location"] == reverse("account_verify_phone")
    user = get_user_model().objects.get()
    # Not verified yet: nothing in PhoneNumber, nobody logged in.
    assert not PhoneNumber.objects.exists()
    assert logged_in(client) is None

    code = code_in(sms_outbox)
    page = client.post(reverse("account_verify_phone"), {"code": code})
    assert page.status_code == 302, page.content.decode()[:2000]
    assert logged_in(client) == str(user.pk)
    number = PhoneNumber.objects.get()
    assert (number.user_id, number.phone) == (user.pk, MSISDN)


def test_the_delivery_log_keeps_the_code_masked(sms_outbox: list[Any]) -> None:
    Client().post(reverse("account_signup"), {"phone": PHONE})
    code = code_in(sms_outbox)
    msg = Message.objects.get()
    assert msg.kind == Message.Kind.OTP
    assert code not in msg.text
    assert "*" * len(code) in msg.text
    assert list(msg.recipients.values_list("phone", flat=True)) == [MSISDN]


def test_a_wrong_code_verifies_nothing(sms_outbox: list[Any]) -> None:
    client = Client()
    client.post(reverse("account_signup"), {"phone": PHONE})
    code = code_in(sms_outbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page = client.post(reverse("account_verify_phone"), {"code": wrong})
    assert page.status_code == 200
    assert logged_in(client) is None
    assert not PhoneNumber.objects.exists()


def test_login_by_phone_code(sms_outbox: list[Any]) -> None:
    user = make_user()
    client = Client()
    page = request_login_code(client)
    assert page.status_code == 302, page.content.decode()[:2000]
    assert page["Location"] == reverse("account_confirm_login_code")
    assert logged_in(client) is None

    page = client.post(reverse("account_confirm_login_code"), {"code": code_in(sms_outbox)})
    assert page.status_code == 302, page.content.decode()[:2000]
    assert logged_in(client) == str(user.pk)


def test_any_written_form_of_a_thai_number_finds_its_owner(sms_outbox: list[Any]) -> None:
    make_user()
    with override_settings(SEPSMS=NO_COOLDOWN):
        for written in ("+66 81-234-5678", "081-234-5678", "0812345678"):
            assert request_login_code(Client(), written).status_code == 302, written
    assert [m.recipients for m in sms_outbox] == [[MSISDN]] * 3


def test_a_number_outside_the_allowed_ones_is_refused_before_anything_is_sent(
    sms_outbox: list[Any],
) -> None:
    page = request_login_code(Client(), "+12025550123")
    assert page.status_code == 200
    assert "not a valid mobile phone number" in page.content.decode()
    assert sms_outbox == []
    assert not Message.objects.exists()


def test_an_unknown_number_is_answered_like_a_known_one_and_sent_nothing(
    sms_outbox: list[Any],
) -> None:
    make_user()
    known, unknown = request_login_code(Client(), PHONE), request_login_code(Client(), OTHER)
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert [m.recipients for m in sms_outbox] == [[MSISDN]]
    assert Message.objects.count() == 1


def test_unknown_and_known_numbers_both_wait_for_the_answer_floor(
    sms_outbox: list[Any],
) -> None:
    make_user()
    floor = 0.2
    taken = {}
    with override_settings(SEPSMS={**settings.SEPSMS, "OTP_MIN_ANSWER_TIME": floor}):
        for phone in (PHONE, OTHER):
            started = time.monotonic()
            assert request_login_code(Client(), phone).status_code == 302
            taken[phone] = time.monotonic() - started
    assert min(taken.values()) >= floor, taken
    assert len(sms_outbox) == 1


def test_the_cooldown_holds_known_and_unknown_numbers_alike(sms_outbox: list[Any]) -> None:
    make_user()
    for phone in (PHONE, OTHER):
        assert request_login_code(Client(), phone).status_code == 302
        again = request_login_code(Client(), phone)
        assert again.status_code == 429, phone
    assert len(sms_outbox) == 1


def test_the_send_limits_of_a_number_hold_across_sessions(sms_outbox: list[Any]) -> None:
    make_user()
    # allauth's own limits off: ours are the ones counted here.
    with override_settings(SEPSMS=NO_COOLDOWN, ACCOUNT_RATE_LIMITS=False):
        answers = [request_login_code(Client()).status_code for _ in range(4)]
    assert answers == [302, 302, 302, 429]  # otp_send_phone: 3 in 10 minutes
    assert len(sms_outbox) == 3


def test_a_refused_request_keeps_the_code_sent_before(sms_outbox: list[Any]) -> None:
    make_user()
    client = Client()
    request_login_code(client)
    code = code_in(sms_outbox)
    assert request_login_code(Client()).status_code == 429
    page = client.post(reverse("account_confirm_login_code"), {"code": code})
    assert page.status_code == 302
    assert logged_in(client) is not None


def test_signup_with_a_taken_number_sends_no_code_to_it(sms_outbox: list[Any]) -> None:
    owner = make_user()
    client = Client()
    page = client.post(reverse("account_signup"), {"phone": PHONE})
    assert page.status_code == 302
    assert sms_outbox == []
    assert PhoneNumber.objects.get().user_id == owner.pk


def log_in(client: Client, outbox: list[Any]) -> None:
    """Log in through allauth's code pages, as a person would (a recent login for
    the pages that ask for one)."""
    request_login_code(client)
    client.post(reverse("account_confirm_login_code"), {"code": code_in(outbox)})
    assert logged_in(client) is not None
    outbox.clear()


def test_a_changed_number_replaces_the_old_one(sms_outbox: list[Any]) -> None:
    user = make_user()
    client = Client()
    log_in(client, sms_outbox)
    page = client.post(reverse("account_change_phone"), {"phone": "089-876-5432"})
    assert page.status_code == 302, page.content.decode()[:2000]
    new = OTHER.removeprefix("+")
    assert PhoneNumber.objects.get().phone == MSISDN  # until the new one is proved
    page = client.post(reverse("account_verify_phone"), {"code": code_in(sms_outbox, new)})
    assert page.status_code == 302, page.content.decode()[:2000]
    assert list(PhoneNumber.objects.values_list("user_id", "phone")) == [(user.pk, new)]


def test_another_accounts_number_is_never_sent_a_code_nor_moved(sms_outbox: list[Any]) -> None:
    make_user()
    other = make_user(OTHER.removeprefix("+"), "malee")
    client = Client()
    log_in(client, sms_outbox)
    page = client.post(reverse("account_change_phone"), {"phone": OTHER})
    assert page.status_code == 302  # as for a free number: nothing tells them apart
    assert sms_outbox == []
    assert PhoneNumber.objects.get(user=other).phone == OTHER.removeprefix("+")


def check_ids() -> list[str]:
    return [message.id or "" for message in check_allauth_settings()]


def test_the_projects_settings_pass_the_checks() -> None:
    assert check_ids() == []
    assert [m.id for m in check_settings() if m.id in {"sepsms.W009", "sepsms.W010"}] == []


@pytest.mark.parametrize(
    "setting",
    [
        {"ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND": True},
        {"ACCOUNT_PHONE_VERIFICATION_SUPPORTS_RESEND": 2},
        {"ACCOUNT_PREVENT_ENUMERATION": False},
    ],
)
def test_settings_that_tell_numbers_apart_are_warned_of(setting: dict[str, Any]) -> None:
    with override_settings(**setting):
        assert check_ids() == ["sepsms.W009"]
        assert "sepsms.W009" in [m.id for m in check_settings()]


def test_signed_cookie_sessions_are_warned_of() -> None:
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies"):
        assert check_ids() == ["sepsms.W010"]


def test_an_adapter_without_the_mixin_is_not_checked() -> None:
    with override_settings(
        ACCOUNT_ADAPTER="allauth.account.adapter.DefaultAccountAdapter",
        ACCOUNT_PREVENT_ENUMERATION=False,
    ):
        assert check_ids() == []
