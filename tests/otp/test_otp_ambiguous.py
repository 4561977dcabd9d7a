"""A code the provider may have sent (timeout after the request went out, or a 5xx).

It is recorded as ``unconfirmed``, keeps its cooldown and limits, and no second
SMS follows at once; the visitor sees the usual code page and is told when a new
code may be asked for.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from django_sepsms import asend_otp, send_otp
from django_sepsms.exceptions import AmbiguousRequestError
from django_sepsms.models import OtpChallenge, PhoneNumber
from django_sepsms.simulator import Simulator
from tests.helpers import http_settings
from tests.twins import sync_and_async

pytestmark = pytest.mark.django_db

#: Every test here runs with the sync functions, then with their async twins.
_callers = sync_and_async(globals(), send_otp=asend_otp)


@pytest.fixture
def user() -> Any:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    return user


def settings(sim: Simulator, **extra: Any) -> Any:
    return override_settings(SEPSMS=http_settings(sim, TIMEOUT=0.4, **extra))


def otp_texts(sim: Simulator) -> list[Any]:
    return [m for m in sim.inbox if m.msisdn == "66812345678"]


@pytest.mark.parametrize("fault", ["timeout", "503"])
def test_a_late_provider_code_is_unconfirmed_and_not_sent_twice(
    user: Any, sim: Simulator, fault: str
) -> None:
    if fault == "timeout":
        sim.delay_next("/otp/send", seconds=1.0, process=True)
    else:
        sim.fail_next("/otp/send", status=503, process=True)
    client = Client()
    with settings(sim):
        first = client.post("/sepsms/login/", {"phone": "0812345678"})
        again = client.post("/sepsms/login/verify/", {"resend": "1"})
        retry = client.post("/sepsms/login/", {"phone": "0812345678"})
    assert first.status_code == 302  # the code page, as for any number
    challenge = OtpChallenge.objects.get()
    assert challenge.status == OtpChallenge.Status.UNCONFIRMED
    assert challenge.error_code
    assert again.status_code == retry.status_code == 429  # the cooldown held
    assert "A code was just sent to this number: enter it, or wait" in again.content.decode()
    assert "A code was just sent to this number" in retry.content.decode()
    assert OtpChallenge.objects.count() == 1
    assert len(otp_texts(sim)) == 1  # the provider did send it, once


def test_the_api_tells_the_client_to_wait(user: Any, sim: Simulator) -> None:
    sim.delay_next("/otp/send", seconds=1.0, process=True)
    client = Client()
    body = json.dumps({"phone": "0812345678", "purpose": "login"})
    with settings(sim):
        first = client.post("/sepsms/api/otp/", body, content_type="application/json")
        second = client.post("/sepsms/api/otp/", body, content_type="application/json")
    assert first.status_code == 200
    assert first.json()["resend_after"] >= 59
    assert second.status_code == 429
    assert second.json()["code"] == "rate_limited"
    assert int(second["Retry-After"]) >= 58
    assert OtpChallenge.objects.get().status == OtpChallenge.Status.UNCONFIRMED
    assert len(otp_texts(sim)) == 1


def test_an_unconfirmed_local_code_that_arrived_still_logs_in(user: Any, sim: Simulator) -> None:
    """In local mode the app made the code and knows its reference: if it came, it works."""
    sim.fail_next("/message/send", status=502, process=True)
    client = Client()
    with settings(sim, OTP_MODE="local"):
        assert client.post("/sepsms/login/", {"phone": "0812345678"}).status_code == 302
        challenge = OtpChallenge.objects.get()
        assert challenge.status == OtpChallenge.Status.UNCONFIRMED
        (sms,) = otp_texts(sim)
        assert challenge.reference in sms.text
        code = "".join(ch for ch in sms.text.split("(")[0] if ch.isdigit())
        response = client.post("/sepsms/login/verify/", {"code": code})
    assert response.status_code == 302
    assert str(client.session["_auth_user_id"]) == str(user.pk)
    challenge.refresh_from_db()
    assert challenge.status == OtpChallenge.Status.VERIFIED


def test_a_definite_refusal_is_send_failed_and_keeps_the_cooldown(
    user: Any, sim: Simulator
) -> None:
    sim.fail_next("/otp/send", status=401, code="auth.invalid_credentials")
    client = Client()
    with settings(sim):
        assert client.post("/sepsms/login/", {"phone": "0812345678"}).status_code == 302
        assert client.post("/sepsms/login/verify/", {"resend": "1"}).status_code == 429
    assert OtpChallenge.objects.get().status == OtpChallenge.Status.SEND_FAILED
    assert otp_texts(sim) == []


def test_send_otp_raises_and_records_unconfirmed(sim: Simulator) -> None:
    sim.delay_next("/otp/send", seconds=1.0, process=True)
    with settings(sim), pytest.raises(AmbiguousRequestError):
        send_otp("0812345678")
    assert OtpChallenge.objects.get().status == OtpChallenge.Status.UNCONFIRMED


def test_a_new_code_replaces_an_unconfirmed_one(sim: Simulator) -> None:
    sim.delay_next("/otp/send", seconds=1.0, process=True)
    with settings(sim):
        with pytest.raises(AmbiguousRequestError):
            send_otp("0812345678")
        fresh = send_otp("0812345678")
    statuses = dict(OtpChallenge.objects.values_list("pk", "status"))
    assert statuses[fresh.pk] == OtpChallenge.Status.PENDING
    assert sorted(statuses.values()) == ["cancelled", "pending"]
