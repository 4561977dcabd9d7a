"""Codes another app makes and checks, carried by ``otp.relay``: limits, log, decoys."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import RequestFactory, override_settings
from django.utils import timezone

from django_sepsms.exceptions import OtpRateLimited
from django_sepsms.models import Message, PhoneNumber
from django_sepsms.otp.relay import make_relayed_code, relay_code, relay_decoy

pytestmark = pytest.mark.django_db

MSISDN = "66812345678"


def request() -> Any:
    return RequestFactory().post("/", REMOTE_ADDR="192.0.2.7")


def test_a_relayed_code_is_sent_in_the_template_and_logged_masked(
    sms_outbox: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    code = make_relayed_code()
    assert code.isdigit()
    assert len(code) == 6
    with caplog.at_level(logging.DEBUG, logger="django_sepsms"):
        relay_code(request(), "081-234-5678", code, purpose="test", user=None)
    (sms,) = sms_outbox
    assert sms.recipients == [MSISDN]
    assert code in sms.message
    assert "Ref: " in sms.message
    msg = Message.objects.get()
    assert msg.kind == Message.Kind.OTP
    assert "*" * len(code) in msg.text
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Message._meta.db_table}")
        assert code not in repr(cursor.fetchall())
    assert code not in caplog.text


def test_another_accounts_number_gets_nothing(
    sms_outbox: list[Any], django_user_model: Any
) -> None:
    owner, other = (django_user_model.objects.create_user(n) for n in ("owner", "other"))
    PhoneNumber.objects.create(user=owner, phone=MSISDN, verified_at=timezone.now())
    relay_code(request(), MSISDN, "123456", purpose="test", user=other)
    assert sms_outbox == []
    assert not Message.objects.exists()
    with override_settings(SEPSMS={**settings.SEPSMS, "OTP_RESEND_COOLDOWN": 0}):
        relay_code(None, MSISDN, "123456", purpose="test", user=owner)
    assert len(sms_outbox) == 1


def test_a_decoy_takes_the_cooldown_like_a_code(sms_outbox: list[Any]) -> None:
    relay_decoy(request(), MSISDN, purpose="test")
    assert sms_outbox == []
    with pytest.raises(OtpRateLimited) as refused:
        relay_code(request(), MSISDN, "123456", purpose="test", user=None)
    assert refused.value.limit == "otp_resend_cooldown"
    assert sms_outbox == []


def test_a_failed_send_is_logged_and_answered_as_usual(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = {**settings.SEPSMS, "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend"}
    broken.pop("API_KEY", None)
    with override_settings(SEPSMS=broken), caplog.at_level(logging.WARNING):
        relay_code(request(), MSISDN, "123456", purpose="test", user=None)
    assert "not sent" in caplog.text
    assert "123456" not in caplog.text
    assert MSISDN not in caplog.text


def test_a_template_without_the_code_sends_nothing(
    sms_outbox: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(SEPSMS={**settings.SEPSMS, "OTP_TEMPLATE": "Hello"}):
        relay_code(request(), MSISDN, "123456", purpose="test", user=None)
    assert sms_outbox == []
    assert "not sent" in caplog.text


def test_a_number_that_gets_no_code_is_noted_at_debug_only(
    sms_outbox: list[Any], caplog: pytest.LogCaptureFixture, django_user_model: Any
) -> None:
    """As for the app's own decoys: nothing in a production log (INFO and up) tells
    the numbers that got no code from the others."""
    owner, other = (django_user_model.objects.create_user(n) for n in ("owner", "other"))
    PhoneNumber.objects.create(user=owner, phone=MSISDN, verified_at=timezone.now())
    with caplog.at_level(logging.DEBUG, logger="django_sepsms"):
        relay_decoy(request(), "0898765432", purpose="login")
        relay_code(None, MSISDN, "123456", purpose="change_phone", user=other)
    assert sms_outbox == []
    notes = [r for r in caplog.records if r.name == "django_sepsms"]
    assert len(notes) == 2
    assert {r.levelno for r in notes} == {logging.DEBUG}
    assert "66*******32" in notes[0].getMessage()
    assert "66898765432" not in caplog.text
    assert MSISDN not in caplog.text
