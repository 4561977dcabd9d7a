"""Attacks through the public surface that the other suites did not try.

Each test is one attack: what a stranger (or someone who saw one genuine
delivery) sends, and what the app must answer and leave unchanged.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import path

from django_sepsms import send_sms
from django_sepsms.api.views import PhoneTokenLoginView
from django_sepsms.models import Message, Recipient, WebhookEvent
from django_sepsms.otp import challenges, flows
from django_sepsms.sending import deliver
from django_sepsms.signals import credit_low, webhook_received
from django_sepsms.testing import sign_webhook
from tests.backends import FixedUuidBackend
from tests.helpers import ErrorReports
from tests.urls import urlpatterns as base_urlpatterns

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_current"
URL = "/sepsms/webhook/"

urlpatterns = [*base_urlpatterns, path("login/phone/", PhoneTokenLoginView.as_view())]


@pytest.fixture
def message(sms_outbox: list[Any]) -> Iterator[Message]:
    """A message to 0812345678 and 0912345678, sent as provider message ``sms-1``."""
    FixedUuidBackend.next_uuid = "sms-1"
    with override_settings(
        SEPSMS={
            "BACKEND": "tests.backends.FixedUuidBackend",
            "ORIGIN": "TESTSHOP",
            "WEBHOOK_SECRETS": [SECRET],
        }
    ):
        yield send_sms("Hi", ["0812345678", "0912345678"])


def post(body: bytes, headers: dict[str, Any], event: str) -> Any:
    return Client().generic(
        "POST",
        URL,
        body,
        content_type="application/json",
        **{**headers, "HTTP_X_WEBHOOK_EVENT": event},
    )


@pytest.mark.parametrize(
    "event", ["dr.failed", "sms.failed", "credit.low", "order.completed", "x1"]
)
def test_a_captured_delivery_replayed_under_another_event_name_changes_nothing(
    message: Message, event: str
) -> None:
    """The signature covers the timestamp and the body, not ``X-Webhook-Event``.

    Someone who saw one genuine delivery (a proxy's log, an APM tool) replays
    its exact bytes and signature within the tolerance window under other
    event names: each would be a new delivery, stored, signalled and applied.
    """
    body = json.dumps(
        {"smsUuid": "sms-1", "msisdn": "66812345678", "txId": "tx-1", "status": "success"}
    ).encode()
    headers = sign_webhook(body, SECRET, int(time.time()), event="dr.success")
    assert post(body, headers, "dr.success").json() == {"status": "ok"}
    signals: list[str] = []

    def heard(sender: Any, **kwargs: Any) -> None:
        signals.append(kwargs.get("name", "credit_low"))

    webhook_received.connect(heard)
    credit_low.connect(heard)
    try:
        replay = post(body, headers, event)
    finally:
        webhook_received.disconnect(heard)
        credit_low.disconnect(heard)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid webhook"}
    assert WebhookEvent.objects.count() == 1
    assert signals == []
    recipient = Recipient.objects.get(message=message, phone="66812345678")
    assert recipient.status == Recipient.Status.SUCCESS
    # The provider's own retry of the delivery, under its own name, is still a duplicate.
    assert post(body, headers, "dr.success").json() == {"status": "duplicate"}


def test_a_status_less_sms_report_cannot_be_replayed_as_a_failure(message: Message) -> None:
    """``sms.*`` bodies without a ``status`` are read by their event name alone."""
    body = json.dumps({"smsUuid": "sms-1"}).encode()
    headers = sign_webhook(body, SECRET, int(time.time()), event="sms.sent")
    assert post(body, headers, "sms.sent").status_code == 200
    assert post(body, headers, "sms.failed").status_code == 400
    message.refresh_from_db()
    assert message.status != Message.Status.FAILED
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize(
    "credentials", [b"somchai\x00:x", b"\x00:\x00", b"somchai:x\x00", "สมชาย\x00:x".encode()]
)
@pytest.mark.parametrize("scheme", ["Basic ", "basic\t", " BASIC  "])
@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/sepsms/api/otp/", {"phone": "0812345678"}),
        ("/sepsms/api/otp/verify/", {"reference": "ABC234", "pin": "123456"}),
        ("/login/phone/", {"token": "x"}),
    ],
)
def test_a_nul_in_basic_credentials_is_refused_not_a_5xx(
    settings: Any, url: str, body: dict[str, str], scheme: str, credentials: bytes
) -> None:
    """DRF's ``BasicAuthentication`` (on by default) hands the decoded user name to
    the database: a NUL there is a ``DataError`` on PostgreSQL, from printable bytes."""
    settings.ROOT_URLCONF = __name__
    response = Client(raise_request_exception=False).post(
        url,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=scheme + base64.b64encode(credentials).decode(),
    )
    assert response.status_code in {401, 403}
    assert response.json()["code"] == "authentication_failed"
    assert set(response.json()) == {"code", "detail"}


def _outage(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("the database went away")


#: One number per case, written three ways: as typed, normalised, national digits.
NUMBERS = {
    "login": ("081-234-5678", "66812345678", "0812345678"),
    "login-verify": ("089-876-5432", "66898765432", "0898765432"),
    "api": ("089-111-2222", "66891112222", "0891112222"),
    "api-verify": ("086-555-1234", "66865551234", "0865551234"),
    "login-send": ("086-777-8888", "66867778888", "0867778888"),
}
#: The code of the "login-send" case (not written out: a report quotes this file's lines).
CODE = str(735_000 + 146)


def _fail(case: str) -> Any:
    typed = NUMBERS[case][0]
    client = Client(raise_request_exception=False)
    if case == "login-send":  # the database fails while the code's SMS is being recorded as sent
        local = {**settings.SEPSMS, "OTP_MODE": "local", "LOGIN_CREATE_USERS": True}
        with (
            override_settings(SEPSMS=local),
            mock.patch.object(challenges, "make_code", return_value=CODE),
            mock.patch.object(deliver, "collect_answer", _outage),
        ):
            return client.post("/sepsms/login/", {"phone": typed})
    if case == "login":
        with mock.patch.object(flows, "may_receive", _outage):
            return client.post("/sepsms/login/", {"phone": typed})
    if case == "login-verify":
        client.post("/sepsms/login/", {"phone": typed})
        with mock.patch.object(flows, "verify_otp", _outage):
            return client.post("/sepsms/login/verify/", {"code": "123456"})
    body = {"phone": typed, "purpose": "verify"}
    if case == "api":
        with mock.patch.object(flows, "may_receive", _outage):
            return client.post(
                "/sepsms/api/otp/", json.dumps(body), content_type="application/json"
            )
    sent = client.post(
        "/sepsms/api/otp/", json.dumps(body), content_type="application/json"
    ).json()
    check = {"reference": sent["reference"], "pin": "123456", "flow_token": sent["flow_token"]}
    with mock.patch.object(flows, "verify_otp", _outage):
        return client.post(
            "/sepsms/api/otp/verify/", json.dumps(check), content_type="application/json"
        )


@pytest.mark.parametrize("case", list(NUMBERS))
def test_an_error_report_of_a_phone_flow_holds_no_number(sms_outbox: list[Any], case: str) -> None:
    """A 500 (an outage: the database, the cache) in either step, page or API, is
    mailed to ADMINS with the form's fields and every frame's locals: none may
    hold the number, however it is written."""
    reports = ErrorReports()
    logger = logging.getLogger("django.request")
    logger.addHandler(reports)
    try:
        response = _fail(case)
    finally:
        logger.removeHandler(reports)
    assert response.status_code == 500
    (report,) = reports.texts
    assert "the database went away" in report
    for written in NUMBERS[case]:
        assert written not in report
    assert CODE not in report


@pytest.mark.parametrize("case", list(NUMBERS))
def test_the_debug_page_of_a_phone_flow_holds_no_number_or_code(
    sms_outbox: list[Any], case: str
) -> None:
    """With ``DEBUG = True`` Django shows every local; the phone views hide them anyway."""
    with override_settings(DEBUG=True):
        response = _fail(case)
    assert response.status_code == 500
    # Without the source lines the page quotes (this file's among them): what remains
    # is the frames' locals, the request's fields and the settings.
    page = re.sub(
        r"<ol start=[\"']\d+[\"'] class=\"(?:pre-context|context-line|post-context)\".*?</ol>",
        "",
        response.content.decode(),
        flags=re.DOTALL,
    )
    assert "the database went away" in page  # the technical page
    assert 'class="vars"' in page
    for written in NUMBERS[case]:
        assert written not in page
    assert CODE not in page


#: A quoted cookie whose octal escape is a NUL: printable bytes on the wire, so
#: every server passes it on, and Django unquotes it into the session key.
NUL_SESSION = 'sessionid="abcdefgh\\000ijklmnop"'


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", "/sepsms/login/verify/", None),
        ("post", "/sepsms/login/", {"phone": "0812345678"}),
        ("post", "/sepsms/login/verify/", {"code": "123456"}),
        ("get", "/sepsms/phone/", None),
        ("post", "/sepsms/phone/verify/", {"code": "123456"}),
        ("post", "/sepsms/api/otp/", {"phone": "0812345678"}),
        ("post", "/sepsms/api/otp/verify/", {"reference": "ABC234", "pin": "123456"}),
        ("post", "/login/phone/", {"token": "x"}),
    ],
)
def test_a_session_cookie_holding_a_nul_is_a_new_session_not_a_5xx(
    settings: Any, sms_outbox: list[Any], method: str, url: str, body: Any
) -> None:
    """PostgreSQL refuses a NUL in the session lookup: the pages and the API then
    answer as they would a visitor without a session."""
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    if method == "get":
        response = client.get(url, HTTP_COOKIE=NUL_SESSION)
    elif url.startswith("/sepsms/api/") or url == "/login/phone/":
        response = client.post(
            url, json.dumps(body), content_type="application/json", HTTP_COOKIE=NUL_SESSION
        )
    else:
        response = client.post(url, body, HTTP_COOKIE=NUL_SESSION)
    assert response.status_code < 500
    if method == "get":  # as for a visitor without a session: to step 1, or to sign in
        assert response.status_code == Client().get(url).status_code == 302


@pytest.mark.parametrize("url", ["/sepsms/login/", "/sepsms/api/otp/"])
def test_one_ipv6_network_is_one_client_for_the_limits(sms_outbox: list[Any], url: str) -> None:
    """Anyone given a /64 has 2**64 addresses: counted one by one, ``otp_send_ip``
    would never stop an SMS pump from it. Addresses are counted by network, as
    django-ratelimit does (``RATELIMIT_IPV6_MASK``, 64 by default)."""
    limited = {**settings.SEPSMS, "RATELIMITS": {"otp_send_ip": "3/h"}}
    answers = []
    with override_settings(SEPSMS=limited):
        for n in range(4):
            phone = f"08123456{n:02d}"
            remote = f"2001:db8:1:2::{n + 1:x}"
            if url == "/sepsms/api/otp/":
                body = json.dumps({"phone": phone})
                response = Client().post(
                    url, body, content_type="application/json", REMOTE_ADDR=remote
                )
            else:
                response = Client().post(url, {"phone": phone}, REMOTE_ADDR=remote)
            answers.append(response.status_code)
        other_network = Client().post(
            "/sepsms/login/", {"phone": "0812345699"}, REMOTE_ADDR="2001:db8:1:3::1"
        )
        # IPv4 clients as a dual-stack server names them: each its own client still.
        mapped = [
            Client()
            .post(
                "/sepsms/login/", {"phone": f"08912345{n:02d}"}, REMOTE_ADDR=f"::ffff:192.0.2.{n}"
            )
            .status_code
            for n in range(1, 5)
        ]
    sent = 302 if url == "/sepsms/login/" else 200
    assert answers == [sent, sent, sent, 429]
    assert other_network.status_code == 302
    assert mapped == [302] * 4


def test_a_trusted_proxy_written_as_ipv6_is_still_trusted(sms_outbox: list[Any]) -> None:
    """A dual-stack server names the IPv4 proxy ``::ffff:10.0.0.5``: were it not
    recognised, every visitor would share the proxy's count, and one client
    could use up the per-IP limit of all."""
    proxied = {
        **settings.SEPSMS,
        "TRUSTED_PROXIES": ["10.0.0.0/8"],
        "RATELIMITS": {"otp_send_ip": "1/h"},
    }
    with override_settings(SEPSMS=proxied):
        answers = [
            Client()
            .post(
                "/sepsms/login/",
                {"phone": f"08912345{n:02d}"},
                REMOTE_ADDR="::ffff:10.0.0.5",
                HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            )
            .status_code
            for n in range(1, 4)
        ]
    assert answers == [302, 302, 302]


@pytest.mark.parametrize("url", ["/sepsms/api/otp/", "/sepsms/api/otp/verify/"])
def test_a_body_of_escaped_quotes_is_refused_at_once(url: str) -> None:
    """The nesting of a body is measured before it is parsed: in one pass. A
    pattern that retries from every quote took 13 s of a worker for these 64 KB."""
    body = ('{"pin": "' + '\\"' * 32_000).encode()
    started = time.monotonic()
    response = Client().post(url, body, content_type="application/json")
    elapsed = time.monotonic() - started
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert elapsed < 1.5


@pytest.mark.parametrize("filler", ["-", "(", " .", "1-"])
def test_a_long_run_of_separators_as_a_phone_is_refused_at_once(filler: str) -> None:
    """Every validator of the field runs, the length's and the pattern's alike: a
    pattern whose two parts both take separators backtracked over 60 KB of
    ``-`` for 12 s before refusing it."""
    phone = filler * (60_000 // len(filler)) + "x"
    started = time.monotonic()
    response = Client().post(
        "/sepsms/api/otp/", json.dumps({"phone": phone}), content_type="application/json"
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone"
    assert elapsed < 1.5


@pytest.mark.parametrize("url", ["/sepsms/api/otp/", "/sepsms/api/otp/verify/"])
@pytest.mark.parametrize("query", ["?format=xml", "?format=api", "?format=%00"])
def test_an_unknown_format_in_the_query_is_answered_in_the_api_shape(url: str, query: str) -> None:
    """DRF reads ``?format=`` to choose a renderer and raises Django's ``Http404``
    for one it has not: answered ``{"detail": "Not found."}``, not ``{"code", "detail"}``."""
    response = Client().post(url + query, "{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
