"""What the everyday operations cost: SQL queries and cache round trips, within budgets.

A code request (the API's and the login page's) makes at most 8 queries and 3
cache round trips in both OTP modes; a code check at most 4 queries; one SMS to
one number at most 7. Transaction control is not counted (see
:mod:`tests.counting`). The backends here do no cache work of their own, but
the HTTP backend's throttle (``SEPSMS["THROTTLE"]``): one round trip a request.
One delivery report through the webhook: one statement on PostgreSQL (3 queries
on the portable path) and one cache round trip.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, ClassVar
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

import django_sepsms
from django_sepsms import send_sms
from django_sepsms.backends.base import OtpSendResult, OtpVerifyResult
from django_sepsms.backends.locmem import LocmemBackend
from django_sepsms.models import Message, OtpChallenge, PhoneNumber
from django_sepsms.otp import views as otp_views
from django_sepsms.simulator import Simulator
from django_sepsms.testing import sign_webhook
from tests.counting import Queries, cache_round_trips, counting_caches, queries
from tests.helpers import http_settings

pytestmark = pytest.mark.django_db

CODE_REQUEST_QUERIES = 8
CODE_REQUEST_ROUND_TRIPS = 3
CODE_CHECK_QUERIES = 4
ONE_SMS_QUERIES = 7
THROTTLED_REQUEST_ROUND_TRIPS = 1
#: One delivery report: one statement on PostgreSQL; the portable path elsewhere.
WEBHOOK_QUERIES = {"postgresql": 1, "sqlite": 3}
WEBHOOK_ROUND_TRIPS = 1

REGISTERED, UNKNOWN, WARM = "0812345678", "0898765432", "0861112222"


class ProviderCodesBackend(LocmemBackend):
    """Locmem that makes and checks codes itself, as the provider does; no network."""

    supports_provider_otp = True
    codes: ClassVar[dict[str, str]] = {}

    def send_otp(
        self, phone: str, *, origin: str, template: str, ttl: int, code_length: int
    ) -> OtpSendResult:
        reference = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in "123456")
        code = "".join(secrets.choice("0123456789") for _ in range(code_length))
        type(self).codes[reference] = code
        django_sepsms.outbox.append(type("Sent", (), {"message": code, "recipients": [phone]})())
        expires_at = timezone.now() + timedelta(seconds=ttl)
        return OtpSendResult(reference, secrets.token_hex(8), phone, expires_at, ttl)

    def verify_otp(self, reference: str, pin: str) -> OtpVerifyResult:
        return OtpVerifyResult(reference, type(self).codes.get(reference) == pin)


BACKENDS = {
    "local": "django_sepsms.backends.locmem.LocmemBackend",
    "provider": f"{__name__}.ProviderCodesBackend",
}


@pytest.fixture(params=["local", "provider"])
def mode(request: Any) -> Iterator[str]:
    """Both OTP modes, the default limits, cooldown and pumping guard: every counter counts."""
    config = {
        **settings.SEPSMS,
        "BACKEND": BACKENDS[request.param],
        "OTP_MODE": request.param,
        "PUMPING_GUARD": {},  # on, with its defaults: it fits in the budgets
    }
    with override_settings(SEPSMS=config), counting_caches():
        yield request.param


@pytest.fixture
def registered() -> Any:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    other = get_user_model().objects.create_user(username="malee", password="x")
    PhoneNumber.objects.create(user=other, phone="66861112222", verified_at=timezone.now())
    return user


def api_code_request(client: Client, phone: str) -> Any:
    body = json.dumps({"phone": phone, "purpose": "login"})
    return client.post("/sepsms/api/otp/", body, content_type="application/json")


def warm(client: Client) -> None:
    """One real request first: a site's first answer loads what every later one reuses."""
    assert api_code_request(client, WARM).status_code == 200


@contextmanager
def inside(name: str) -> Iterator[dict[str, Queries]]:
    """The queries made inside the pages' ``request_code`` or ``check_code``."""
    seen: dict[str, Queries] = {}
    original = getattr(otp_views, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        with queries() as made:
            result = original(*args, **kwargs)
        seen["queries"] = made
        return result

    with mock.patch.object(otp_views, name, counted):
        yield seen


def report(what: str, made: Queries, trips: list[str]) -> None:
    print(f"\n{what}: {len(made)} queries, {len(trips)} cache round trips {trips}")


def test_a_code_request_through_the_api(mode: str, registered: Any, sms_outbox: Any) -> None:
    client = Client()
    warm(client)
    with queries() as made, cache_round_trips() as trips:
        response = api_code_request(client, REGISTERED)
    assert response.status_code == 200
    assert len(sms_outbox) == 2
    report(f"{mode}: API code request", made, trips)
    assert len(made) <= CODE_REQUEST_QUERIES, str(made)
    assert len(trips) <= CODE_REQUEST_ROUND_TRIPS, trips


def test_a_code_request_through_the_login_page(
    mode: str, registered: Any, sms_outbox: Any
) -> None:
    """Budgeted: ``request_code``'s work (Django's new session adds two queries)."""
    client = Client()
    warm(client)
    with inside("request_code") as flow, queries() as made, cache_round_trips() as trips:
        response = client.post("/sepsms/login/", {"phone": REGISTERED})
    assert response.status_code == 302
    assert len(sms_outbox) == 2
    report(f"{mode}: page code request, the whole request", made, trips)
    report(f"{mode}: page code request, request_code", flow["queries"], trips)
    assert len(flow["queries"]) <= CODE_REQUEST_QUERIES, str(flow["queries"])
    assert len(trips) <= CODE_REQUEST_ROUND_TRIPS, trips


def test_a_code_request_that_replaces_a_pending_code(
    mode: str, registered: Any, sms_outbox: Any
) -> None:
    """The same budget: the new code's INSERT cancels the pending one in the same statement."""
    client = Client()
    warm(client)
    assert api_code_request(client, REGISTERED).status_code == 200
    no_cooldown = {**settings.SEPSMS, "OTP_RESEND_COOLDOWN": 0}
    with override_settings(SEPSMS=no_cooldown), queries() as made, cache_round_trips() as trips:
        assert api_code_request(client, REGISTERED).status_code == 200
    assert OtpChallenge.objects.filter(status=OtpChallenge.Status.CANCELLED).count() == 1
    report(f"{mode}: API code request replacing a pending code", made, trips)
    assert len(made) <= CODE_REQUEST_QUERIES, str(made)
    assert len(trips) <= CODE_REQUEST_ROUND_TRIPS, trips


def test_a_decoy_does_the_cache_work_of_a_real_request(mode: str, registered: Any) -> None:
    """The same commands in the same order: no count or shape of cache traffic tells them apart."""
    client = Client()
    warm(client)
    with cache_round_trips() as real:
        assert api_code_request(client, REGISTERED).status_code == 200
    with cache_round_trips() as decoy:
        assert api_code_request(Client(), UNKNOWN).status_code == 200
    assert real == decoy


def code_of(outbox: Any) -> str:
    match = re.search(r"\b(\d{6,8})\b", outbox[-1].message)
    assert match, outbox[-1].message
    return str(match.group(1))


def test_a_code_check_through_the_api(mode: str, registered: Any, sms_outbox: Any) -> None:
    client = Client()
    warm(client)
    sent = api_code_request(client, REGISTERED).json()
    body = {"reference": sent["reference"], "pin": code_of(sms_outbox)}
    body["flow_token"] = sent["flow_token"]
    with queries() as made, cache_round_trips() as trips:
        response = client.post("/sepsms/api/otp/verify/", body, content_type="application/json")
    assert response.json()["verified"] is True
    report(f"{mode}: API code check", made, trips)
    assert len(made) <= CODE_CHECK_QUERIES, str(made)


def test_a_code_check_through_the_login_page(mode: str, registered: Any, sms_outbox: Any) -> None:
    """Budgeted: ``check_code``'s work (Django's ``login()`` and the session add six)."""
    client = Client()
    warm(client)
    assert client.post("/sepsms/login/", {"phone": REGISTERED}).status_code == 302
    with inside("check_code") as flow, queries() as made, cache_round_trips() as trips:
        response = client.post("/sepsms/login/verify/", {"code": code_of(sms_outbox)})
    assert response.status_code == 302
    assert OtpChallenge.objects.filter(status=OtpChallenge.Status.VERIFIED).count() == 1
    report(f"{mode}: page code check, the whole request", made, trips)
    report(f"{mode}: page code check, check_code", flow["queries"], trips)
    assert len(flow["queries"]) <= CODE_CHECK_QUERIES, str(flow["queries"])


def test_one_sms_to_one_number(sms_outbox: Any) -> None:
    send_sms("warm", WARM)
    with queries() as made:
        msg = send_sms("Your parcel is on its way", "0812345678")
    assert len(sms_outbox) == 2
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED
    report("send_sms to one number", made, [])
    assert len(made) <= ONE_SMS_QUERIES, str(made)


def test_one_sms_through_the_http_backend_with_the_throttle_on(simulator: Simulator) -> None:
    """Both of the provider's limits a send counts under are taken in one cache round trip."""
    simulator.reset()
    simulator.rate_limits_enabled = False
    config = http_settings(simulator, THROTTLE=True)
    with override_settings(SEPSMS=config), counting_caches():
        send_sms("warm", WARM)
        with queries() as made, cache_round_trips() as trips:
            msg = send_sms("Your parcel is on its way", "0812345678")
        with cache_round_trips() as otp_trips:
            django_sepsms.send_otp("0812345678")
    assert msg.batches.get().provider_uuid in simulator.messages
    report("send_sms through the HTTP backend, throttled", made, trips)
    assert len(trips) <= THROTTLED_REQUEST_ROUND_TRIPS, trips
    assert len(otp_trips) <= THROTTLED_REQUEST_ROUND_TRIPS, otp_trips


def test_one_delivery_report_through_the_webhook(sms_outbox: Any) -> None:
    """The receiver's whole work for one report: its queries and its one cache round trip."""
    msg = send_sms("Your parcel is on its way", ["0812345678", WARM])
    uuid = msg.batches.get().provider_uuid
    client = Client()

    def report_for(phone: str) -> Any:
        body = json.dumps({"smsUuid": uuid, "msisdn": phone, "txId": f"tx-{phone}"})
        headers = sign_webhook(body, "whsec_test_current", event="dr.success")
        return client.post("/sepsms/webhook/", body, content_type="application/json", **headers)

    with counting_caches():
        assert report_for("66861112222").status_code == 200  # warm
        with queries() as made, cache_round_trips() as trips:
            response = report_for("66812345678")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert msg.recipients.get(phone="66812345678").tx_id == "tx-66812345678"
    report("one delivery report", made, trips)
    assert len(made) <= WEBHOOK_QUERIES.get(connection.vendor, 3), str(made)
    assert len(trips) <= WEBHOOK_ROUND_TRIPS, trips
