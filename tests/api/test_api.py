"""The JSON API (DRF): ask for a code, check it, turn the proof into a login."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.urls import include, path, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from django_sepsms.api.tokens import (
    FlowState,
    InvalidToken,
    login_user_from_token,
    make_verification_token,
    read_flow_token,
    read_verification_token,
)
from django_sepsms.api.views import PhoneTokenLoginView
from django_sepsms.models import OtpChallenge, PhoneNumber

pytestmark = pytest.mark.django_db

# This module doubles as a URLconf, to route the (unrouted) token login view.
urlpatterns = [
    path("sepsms/", include("django_sepsms.urls")),
    path("login/phone/", PhoneTokenLoginView.as_view()),
]

BASE = {
    "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
    "ORIGIN": "TESTSHOP",
    "WEBHOOK_SECRETS": ["whsec_test_current", "whsec_test_previous"],
    "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
}
GENERIC = {
    "verified": False,
    "code": "invalid_code",
    "detail": "The code is not right, or it has expired.",
}
SENT_KEYS = {"reference", "expires_at", "resend_after", "flow_token"}


def sepsms(**extra: Any) -> Any:
    return override_settings(SEPSMS={**BASE, **extra})


def code_from(outbox: list[Any]) -> str:
    match = re.search(r"\b(\d{6,8})\b", outbox[-1].message)
    assert match, outbox[-1].message
    return match.group(1)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def user() -> Any:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    return user


@pytest.fixture
def token_login_urls() -> Iterator[None]:
    with override_settings(ROOT_URLCONF=__name__):
        yield


def ask(api: APIClient, phone: str, purpose: str | None = None, **extra: Any) -> Any:
    body = {"phone": phone} if purpose is None else {"phone": phone, "purpose": purpose}
    return api.post(reverse("sepsms:api-otp"), body, format="json", **extra)


def check(api: APIClient, reference: str, pin: str, flow_token: str | None = None) -> Any:
    body = {"reference": reference, "pin": pin}
    if flow_token is not None:
        body["flow_token"] = flow_token
    return api.post(reverse("sepsms:api-otp-verify"), body, format="json")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def test_urls() -> None:
    assert reverse("sepsms:api-otp") == "/sepsms/api/otp/"
    assert reverse("sepsms:api-otp-verify") == "/sepsms/api/otp/verify/"


def test_request_verify_and_read_the_token(api: APIClient, sms_outbox: list[Any]) -> None:
    response = ask(api, "081-234-5678")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SENT_KEYS
    assert body["resend_after"] == 60
    expires_at = dt.datetime.fromisoformat(body["expires_at"])
    assert 290 < (expires_at - timezone.now()).total_seconds() <= 300
    assert "no-store" in response["Cache-Control"]
    assert sms_outbox[-1].recipients == ["66812345678"]
    assert f"Ref: {body['reference']}" in sms_outbox[-1].message
    flow = read_flow_token(body["flow_token"])
    assert flow == FlowState("66812345678", "verify", body["reference"])

    response = check(api, body["reference"], code_from(sms_outbox), body["flow_token"])
    assert response.status_code == 200
    result = response.json()
    assert set(result) == {"verified", "token", "phone"}
    assert result["verified"] is True
    assert result["phone"] == "66*******78"
    verified = read_verification_token(result["token"], purpose="verify")
    challenge = OtpChallenge.objects.get(reference=body["reference"])
    assert (verified.phone, verified.purpose, verified.challenge_id) == (
        "66812345678",
        "verify",
        challenge.pk,
    )
    assert challenge.status == OtpChallenge.Status.VERIFIED
    with pytest.raises(InvalidToken):
        read_verification_token(result["token"], purpose="login")
    with pytest.raises(InvalidToken):  # a flow token is no verification token
        read_verification_token(body["flow_token"])
    # Single use: the same code never verifies again.
    assert check(api, body["reference"], code_from(sms_outbox), body["flow_token"]).json() == (
        GENERIC
    )


def test_verify_without_a_flow_token_uses_the_reference(
    api: APIClient, sms_outbox: list[Any]
) -> None:
    reference = ask(api, "0812345678").json()["reference"]
    response = check(api, reference.lower(), code_from(sms_outbox))
    assert response.status_code == 200
    assert read_verification_token(response.json()["token"]).phone == "66812345678"


def test_login_codes_need_their_flow_token(
    api: APIClient, user: Any, sms_outbox: list[Any]
) -> None:
    sent = ask(api, "0812345678", "login").json()
    code = code_from(sms_outbox)
    assert check(api, sent["reference"], code).json() == GENERIC
    assert OtpChallenge.objects.get().status == OtpChallenge.Status.PENDING  # untouched
    assert check(api, sent["reference"], code, sent["flow_token"]).status_code == 200


def test_unknown_reference_is_the_generic_failure(api: APIClient) -> None:
    response = check(api, "ZZZZZZ", "123456")
    assert response.status_code == 400
    assert response.json() == GENERIC


def test_login_token_logs_in(
    api: APIClient, user: Any, sms_outbox: list[Any], token_login_urls: None
) -> None:
    sent = ask(api, "0812345678", "login").json()
    result = check(api, sent["reference"], code_from(sms_outbox), sent["flow_token"]).json()
    token = result["token"]
    verified = read_verification_token(token, purpose="login")
    assert verified.user_id is None  # asked anonymously

    request = RequestFactory().post("/")
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    request.user = AnonymousUser()
    assert login_user_from_token(request, token) == user
    assert request.user == user
    assert request.session[SESSION_KEY] == str(user.pk)

    # A token logs in once (tests/api/test_token_single_use.py has the view's own login).
    response = api.post("/login/phone/", {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    assert SESSION_KEY not in api.session


def test_login_token_refuses_other_purposes_and_garbage(
    api: APIClient, user: Any, sms_outbox: list[Any], token_login_urls: None
) -> None:
    sent = ask(api, "0812345678").json()  # purpose "verify"
    token = check(api, sent["reference"], code_from(sms_outbox), sent["flow_token"]).json()[
        "token"
    ]
    request = RequestFactory().post("/")
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    with pytest.raises(InvalidToken):
        login_user_from_token(request, token)
    for bad in (token, token[:-2] + "xx", "", "nonsense"):
        response = api.post("/login/phone/", {"token": bad}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] in {"invalid_token", "invalid_request"}
    assert SESSION_KEY not in api.session


def test_expired_verification_token_is_rejected(
    api: APIClient, user: Any, sms_outbox: list[Any], token_login_urls: None
) -> None:
    sent = ask(api, "0812345678", "login").json()
    check(api, sent["reference"], code_from(sms_outbox), sent["flow_token"])
    challenge = OtpChallenge.objects.get(reference=sent["reference"])
    past = time.time() - 601
    with mock.patch("django.core.signing.time.time", return_value=past):
        old = make_verification_token(challenge)
    with pytest.raises(InvalidToken, match="expired"):
        read_verification_token(old)
    assert read_verification_token(old, max_age=3600).challenge_id == challenge.pk
    response = api.post("/login/phone/", {"token": old}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


def test_unverified_challenge_makes_no_token(api: APIClient, sms_outbox: list[Any]) -> None:
    ask(api, "0812345678")
    with pytest.raises(ValueError, match="verified"):
        make_verification_token(OtpChallenge.objects.get())


def test_unknown_number_at_login_looks_like_a_known_one(
    api: APIClient, user: Any, sms_outbox: list[Any]
) -> None:
    known = ask(api, "0812345678", "login")
    unknown = ask(api, "0898765432", "login")
    assert len(sms_outbox) == 1
    assert sms_outbox[-1].recipients == ["66812345678"]
    assert known.status_code == unknown.status_code == 200
    a, b = known.json(), unknown.json()
    assert set(a) == set(b) == SENT_KEYS
    assert len(a["reference"]) == len(b["reference"])
    assert a["resend_after"] == b["resend_after"]
    assert len(a["expires_at"]) == len(b["expires_at"])
    assert known.cookies.keys() == unknown.cookies.keys()
    assert read_flow_token(b["flow_token"]).phone == "66898765432"
    # Any code for the decoy fails like a wrong code.
    response = check(api, b["reference"], "123456", b["flow_token"])
    assert response.status_code == 400
    assert response.json() == GENERIC


def test_number_forms_share_one_limit_and_429_sends_nothing(
    api: APIClient, sms_outbox: list[Any]
) -> None:
    with sepsms(OTP_RESEND_COOLDOWN=0):
        for phone in ("0812345678", "+66 81-234-5678", "66812345678"):
            assert ask(api, phone).status_code == 200
        assert len(sms_outbox) == 3
        response = ask(api, "081 234 5678")
    assert response.status_code == 429
    body = response.json()
    assert set(body) == {"code", "detail", "retry_after"}
    assert body["code"] == "rate_limited"
    assert 0 < body["retry_after"] <= 600
    assert response["Retry-After"] == str(body["retry_after"])
    assert len(sms_outbox) == 3
    assert OtpChallenge.objects.count() == 3


def test_resend_cooldown(api: APIClient, sms_outbox: list[Any]) -> None:
    assert ask(api, "0812345678").status_code == 200
    response = ask(api, "+66812345678")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert len(sms_outbox) == 1


def test_wrong_codes_get_one_generic_answer_then_exhaust(
    api: APIClient, sms_outbox: list[Any]
) -> None:
    sent = ask(api, "0812345678").json()
    code = code_from(sms_outbox)
    bodies = []
    for pin in [wrong(code)] * 5 + [code]:
        response = check(api, sent["reference"], pin, sent["flow_token"])
        assert response.status_code == 400
        bodies.append(response.content)
    assert all(json.loads(b) == GENERIC for b in bodies)
    assert OtpChallenge.objects.get().status == OtpChallenge.Status.EXHAUSTED
    text = b" ".join(bodies).decode().lower()
    for reason in ("exhausted", "attempt", "wrong", "unknown", "used", "reason"):
        assert reason not in text


def test_expired_code_gets_the_generic_answer(api: APIClient, sms_outbox: list[Any]) -> None:
    sent = ask(api, "0812345678").json()
    OtpChallenge.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = check(api, sent["reference"], code_from(sms_outbox), sent["flow_token"])
    assert response.status_code == 400
    assert response.json() == GENERIC


def test_locked_out_number_gets_429(api: APIClient, sms_outbox: list[Any]) -> None:
    with sepsms(RATELIMITS={"otp_verify_phone": "2/h"}):
        sent = ask(api, "0812345678").json()
        code = code_from(sms_outbox)
        for _ in range(2):
            assert check(api, sent["reference"], wrong(code), sent["flow_token"]).json() == (
                GENERIC
            )
        response = check(api, sent["reference"], code, sent["flow_token"])
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0


def test_flow_token_must_match_the_reference(api: APIClient, sms_outbox: list[Any]) -> None:
    with sepsms(OTP_RESEND_COOLDOWN=0):
        first = ask(api, "0812345678").json()
        first_code = code_from(sms_outbox)
        second = ask(api, "0898765432").json()
        second_code = code_from(sms_outbox)
    # The second number's reference and code, with the first request's token.
    response = check(api, second["reference"], second_code, first["flow_token"])
    assert response.status_code == 400
    assert response.json() == GENERIC
    tampered = first["flow_token"][:-3] + "abc"
    assert check(api, first["reference"], first_code, tampered).json() == GENERIC
    # Neither challenge was touched; with their own tokens both verify.
    assert check(api, second["reference"], second_code, second["flow_token"]).status_code == 200
    assert check(api, first["reference"], first_code, first["flow_token"]).status_code == 200


def test_invalid_purpose_and_phone(api: APIClient, sms_outbox: list[Any]) -> None:
    response = ask(api, "0812345678", "admin")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_purpose"
    for phone in ("12345", "", "0212345678"):
        response = ask(api, phone)
        assert response.status_code == 400
        assert set(response.json()) == {"code", "detail"}
        assert response.json()["code"] == "invalid_phone"
    assert sms_outbox == []


def test_missing_fields_and_form_bodies(api: APIClient) -> None:
    response = api.post(reverse("sepsms:api-otp-verify"), {"pin": "123456"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    response = api.post(reverse("sepsms:api-otp"), {"phone": "0812345678"})  # multipart
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    response = api.post(reverse("sepsms:api-otp"), "{", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert api.get(reverse("sepsms:api-otp")).status_code == 405


def test_phone_purpose_needs_a_signed_in_user(
    api: APIClient, user: Any, sms_outbox: list[Any]
) -> None:
    response = ask(api, "0898765432", "phone")
    assert response.status_code in {401, 403}
    assert response.json() == {
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
    }
    assert sms_outbox == []

    api.force_login(user)
    sent = ask(api, "0898765432", "phone").json()
    result = check(api, sent["reference"], code_from(sms_outbox), sent["flow_token"]).json()
    assert result["verified"] is True
    assert read_verification_token(result["token"], purpose="phone").user_id == str(user.pk)
    assert PhoneNumber.objects.get(phone="66898765432").user == user
    assert PhoneNumber.objects.get(phone="66812345678").is_primary is False


def test_phone_verify_needs_the_user_who_asked(
    api: APIClient, user: Any, sms_outbox: list[Any]
) -> None:
    api.force_login(user)
    sent = ask(api, "0898765432", "phone").json()
    api.logout()
    response = check(api, sent["reference"], code_from(sms_outbox), sent["flow_token"])
    assert response.json()["code"] == "not_authenticated"
    assert check(api, sent["reference"], code_from(sms_outbox)).json() == GENERIC
    other = get_user_model().objects.create_user(username="other", password="x")
    api.force_login(other)
    assert check(api, sent["reference"], code_from(sms_outbox), sent["flow_token"]).json() == (
        GENERIC
    )
    assert not PhoneNumber.objects.filter(phone="66898765432").exists()


def test_csrf_is_checked_for_session_users_only(user: Any, sms_outbox: list[Any]) -> None:
    api = APIClient(enforce_csrf_checks=True)
    assert ask(api, "0812345678").status_code == 200
    api.force_login(user)
    response = ask(api, "0898765432", "phone")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert len(sms_outbox) == 1


def test_forwarded_for_is_ignored_without_trusted_proxies(
    api: APIClient, sms_outbox: list[Any]
) -> None:
    with sepsms(OTP_RESEND_COOLDOWN=0, RATELIMITS={"otp_send_ip": "2/h"}):
        assert ask(api, "0812345678", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 200
        assert ask(api, "0812345679", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 200
        response = ask(api, "0812345670", HTTP_X_FORWARDED_FOR="203.0.113.3")
    assert response.status_code == 429
    assert len(sms_outbox) == 2


def test_forwarded_for_is_honoured_behind_trusted_proxies(
    api: APIClient, sms_outbox: list[Any]
) -> None:
    with sepsms(
        OTP_RESEND_COOLDOWN=0,
        RATELIMITS={"otp_send_ip": "2/h"},
        TRUSTED_PROXIES=["127.0.0.1"],
    ):
        for phone in ("0812345678", "0812345679"):
            assert ask(api, phone, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 200
        assert ask(api, "0812345670", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 200
        assert ask(api, "0812345671", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429
    assert len(sms_outbox) == 3


def test_provider_trouble_answers_like_any_code_request(api: APIClient, sim: Any) -> None:
    sim.fail_next("/otp/send", status=503, times=10)
    response = ask(api, "0812345678")
    assert response.status_code == 200  # as a decoy would: the failure is recorded, not shown
    assert set(response.json()) == SENT_KEYS
    assert OtpChallenge.objects.get().status == OtpChallenge.Status.UNCONFIRMED


def test_provider_codes_verify_through_the_api(api: APIClient, sim: Any) -> None:
    sent = ask(api, "0812345678").json()
    response = check(api, sent["reference"], sim.last_otp_code("66812345678"), sent["flow_token"])
    assert response.status_code == 200
    assert response.json()["verified"] is True


def test_openapi_schema_with_drf_spectacular(tmp_path: Path) -> None:
    """As a project using drf-spectacular would: its settings, its command, validated."""
    pytest.importorskip("drf_spectacular")
    (tmp_path / "spectacular_settings.py").write_text(
        "from tests.settings import *  # noqa\n"
        'INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework", "drf_spectacular"]\n'
        'REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}\n'
    )
    out = tmp_path / "schema.json"
    root = Path(__file__).resolve().parent.parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}
    command = [sys.executable, "-m", "django", "spectacular", "--settings=spectacular_settings"]
    command += ["--format=openapi-json", "--validate", "--fail-on-warn", f"--file={out}"]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    schema = json.loads(out.read_text())
    request_op = schema["paths"]["/sepsms/api/otp/"]["post"]
    verify_op = schema["paths"]["/sepsms/api/otp/verify/"]["post"]
    body = request_op["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/OtpRequest")
    assert {"200", "400", "403", "429", "503"} <= set(request_op["responses"])
    assert {"200", "400", "429", "503"} <= set(verify_op["responses"])
    components = schema["components"]["schemas"]
    assert set(components["OtpSent"]["properties"]) == SENT_KEYS
    assert set(components["OtpVerified"]["properties"]) == {"verified", "token", "phone"}
    assert "retry_after" in components["SepsmsRateLimited"]["properties"]


def test_drf_own_schema_still_works() -> None:
    """Without drf-spectacular as the schema class the views carry no annotation of it."""
    pytest.importorskip("uritemplate")
    from rest_framework.schemas.openapi import SchemaGenerator

    schema = SchemaGenerator(patterns=cast(Any, urlpatterns)).get_schema(request=None, public=True)
    assert "/sepsms/api/otp/" in schema["paths"]
