"""A verification token logs in once: a replay is refused (``invalid_token``) and logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import path
from django.utils import timezone
from rest_framework.test import APIClient

from django_sepsms.api.tokens import (
    InvalidToken,
    read_verification_token,
    redeem_verification_token,
    user_from_token,
)
from django_sepsms.api.views import PhoneTokenLoginView
from django_sepsms.models import OtpChallenge, PhoneNumber
from tests.helpers import run_at_once
from tests.urls import urlpatterns as base_urlpatterns


class ApiTokenLoginView(PhoneTokenLoginView):
    session_login = False


urlpatterns = [
    *base_urlpatterns,
    path("login/phone/", PhoneTokenLoginView.as_view()),
    path("login/phone/api/", ApiTokenLoginView.as_view()),
]


@pytest.fixture(autouse=True)
def _urls(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def user(db: None) -> Any:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    return user


def login_token(sms_outbox: list[Any]) -> str:
    api = APIClient()
    sent = api.post("/sepsms/api/otp/", {"phone": "0812345678", "purpose": "login"}, format="json")
    code = "".join(ch for ch in sms_outbox[-1].message.split("(")[0] if ch.isdigit())
    body = {
        "reference": sent.json()["reference"],
        "pin": code,
        "flow_token": sent.json()["flow_token"],
    }
    verified = api.post("/sepsms/api/otp/verify/", body, format="json")
    assert verified.status_code == 200
    return str(verified.json()["token"])


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/phone/", "/login/phone/api/"])
def test_a_token_logs_in_once(
    user: Any, sms_outbox: list[Any], url: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = login_token(sms_outbox)
    first = APIClient().post(url, {"token": token}, format="json")
    assert first.status_code == 200
    assert first.json()["user_id"] == str(user.pk)
    with caplog.at_level(logging.WARNING, logger="django_sepsms"):
        replay = APIClient().post(url, {"token": token}, format="json")
    assert replay.status_code == 400
    assert replay.json()["code"] == "invalid_token"
    assert "_auth_user_id" not in replay.wsgi_request.session
    replayed = [r.getMessage() for r in caplog.records if "presented again" in r.getMessage()]
    assert replayed
    assert "66*******78" in replayed[0]
    assert not any("66812345678" in r.getMessage() for r in caplog.records)
    # Reading what it proves still works; using it does not.
    assert read_verification_token(token, purpose="login").phone == "66812345678"
    with pytest.raises(InvalidToken):
        user_from_token(None, token)
    assert OtpChallenge.objects.get(status="verified").token_used_at is not None


@pytest.mark.django_db
def test_redeem_refuses_a_token_whose_challenge_is_gone(user: Any, sms_outbox: list[Any]) -> None:
    token = login_token(sms_outbox)
    OtpChallenge.objects.all().delete()
    with pytest.raises(InvalidToken):
        redeem_verification_token(token)


@pytest.mark.django_db(transaction=True)
def test_concurrent_presentations_log_in_exactly_once(user: Any, sms_outbox: list[Any]) -> None:
    """Eight threads, each with its own database connection, present one token at once."""
    token = login_token(sms_outbox)
    count = 8

    def present() -> int:
        response = APIClient().post("/login/phone/api/", {"token": token}, format="json")
        return int(response.status_code)

    statuses = run_at_once(count, present)
    assert sorted(statuses) == [200] + [400] * (count - 1)
