"""The JSON API against bodies a stranger controls: always a clean 4xx, never a change.

Every body here is posted through the test client as raw bytes, as an attacker
would send it. Each answer must be a 4xx in the API's ``{"code", "detail"}``
shape, and nothing may happen: no challenge row, no SMS, no limit counted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from django_sepsms.api.parsers import MAX_BODY_BYTES, MAX_DEPTH
from django_sepsms.api.tokens import make_flow_token
from django_sepsms.models import Message, OtpChallenge
from django_sepsms.otp import flows
from tests.helpers import ErrorReports

pytestmark = pytest.mark.django_db

OTP = "sepsms:api-otp"
VERIFY = "sepsms:api-otp-verify"
URLS = [OTP, VERIFY]
DEEP = 5_000

WRONG_TYPES = [1, 0, -1, 1.5, True, False, None, [], ["0812345678"], {}, {"a": "b"}]
FIELDS = {
    OTP: {"phone": "0812345678", "purpose": "verify"},
    VERIFY: {"reference": "ABC123", "pin": "123456", "flow_token": "x"},
}
CODES = {"phone": "invalid_phone", "purpose": "invalid_purpose"}


@pytest.fixture
def client() -> Client:
    # A 500 must show as a status here, not as an exception out of the test client.
    return Client(raise_request_exception=False)


@pytest.fixture(autouse=True)
def nothing_changes(sms_outbox: list[Any]) -> Iterator[None]:
    """After each test: no challenge, no message, no SMS."""
    yield
    assert OtpChallenge.objects.count() == 0
    assert Message.objects.count() == 0
    assert sms_outbox == []


def post(
    client: Client, name: str, body: bytes | str, content_type: str = "application/json"
) -> Any:
    return client.generic("POST", reverse(name), body, content_type=content_type)


def refused(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is ``status`` in the API's JSON shape (with ``code``, if given)."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("code"), str)
    assert isinstance(body.get("detail"), str)
    assert body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "body",
    [
        "[" * DEEP,
        "[" * DEEP + "]" * DEEP,
        '{"a":' * DEEP + "1" + "}" * DEEP,
        '{"phone": ' + "[" * DEEP + "]" * DEEP + "}",
        '{"pin": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}",
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    ],
    ids=["open-arrays", "arrays", "objects", "deep-phone", "deep-pin", "just-too-deep"],
)
def test_deep_nesting_is_a_parse_error(client: Client, name: str, body: str) -> None:
    assert refused(post(client, name, body), 400, "parse_error")["detail"] in {
        "The body is nested too deeply.",
        "The body is not valid JSON.",
    }


@pytest.mark.parametrize("name", URLS)
def test_nesting_within_the_bound_is_parsed(client: Client, name: str) -> None:
    """Brackets inside strings do not count, and MAX_DEPTH levels are read (then refused
    by the serializer as the wrong type, not by the parser)."""
    deep = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    body = '{"phone": ' + deep + ', "reference": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}'
    assert refused(post(client, name, body), 400)["code"] != "parse_error"


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 5000]
)
def test_numbers_json_cannot_hold_are_refused(client: Client, name: str, literal: str) -> None:
    for field in [*FIELDS[name], "extra"]:
        others = json.dumps({key: value for key, value in FIELDS[name].items() if key != field})
        body = f'{{"{field}": {literal}, {others[1:]}'
        refused(post(client, name, body), 400, "parse_error")


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "body",
    [
        '{"phone": "0812345678\\u0000", "reference": "ABC123", "pin": "123456"}',
        '{"phone": "0812345678", "reference": "ABC\\u0000", "pin": "123456"}',
        '{"phone": "0812345678", "reference": "ABC123", "pin": "1234\\u000056"}',
        '{"phone": "\\ud800", "reference": "ABC123", "pin": "123456"}',
        '{"phone": "0812345678", "reference": "\\udfff", "pin": "\\ud83d"}',
        '{"phone\\u0000": "0812345678", "reference": "ABC123", "pin": "123456"}',
        '{"\\ud800": 1, "phone": "0812345678", "reference": "ABC123", "pin": "123456"}',
        '{"phone": "0812345678", "x": ["\\u0000"], "reference": "ABC123", "pin": "123456"}',
    ],
)
def test_nul_and_lone_surrogates_are_refused(client: Client, name: str, body: str) -> None:
    assert refused(post(client, name, body), 400, "parse_error")["detail"] == (
        "The body holds a character that is not allowed (NUL or a lone surrogate)."
    )


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "body",
    [
        b'{"phone": "\xff"}',
        b"\xff\xfe{\x00}\x00",
        b'{"phone": "\xed\xa0\x80"}',  # a surrogate encoded in UTF-8: not UTF-8
        b'{"phone": "\xc0\xaf"}',  # an overlong form
        '{"phone": "0812345678"}'.encode("utf-16"),
        b'\xef\xbb\xbf{"phone": "0812345678"}',  # a byte order mark (RFC 8259 8.1)
    ],
)
def test_bytes_that_are_not_utf8_json_are_refused(client: Client, name: str, body: bytes) -> None:
    refused(post(client, name, body), 400, "parse_error")


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "body",
    [
        '{"phone": "0812345678"',
        '{"phone": "0812345678"} trailing',
        "{'phone': '0812345678'}",
        '{"phone": "0812345678",}',
        '{"phone": "081\n2345678"}',
        "phone=0812345678",
        '{"phone": "0812345678", "phone": "0898765432"}',
        "\x00",
    ],
)
def test_malformed_json_is_a_parse_error(client: Client, name: str, body: str) -> None:
    refused(post(client, name, body), 400, "parse_error")


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize("body", ["[]", '["0812345678"]', '"0812345678"', "1", "null", "true"])
def test_a_top_level_that_is_not_an_object(client: Client, name: str, body: str) -> None:
    refused(post(client, name, body), 400, "invalid_request")


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
def test_wrong_types_for_every_field(client: Client, name: str, value: Any) -> None:
    for field in FIELDS[name]:
        body = {**FIELDS[name], field: value}
        refused(post(client, name, json.dumps(body)), 400, CODES.get(field, "invalid_request"))


def test_a_number_is_not_a_phone_string(client: Client) -> None:
    """DRF's CharField would take 812345678 and send it an SMS; a number is not a string."""
    body = refused(post(client, OTP, '{"phone": 812345678}'), 400, "invalid_phone")
    assert body["detail"] == "Not a valid string."


@pytest.mark.parametrize("name", URLS)
def test_huge_strings_are_refused(client: Client, name: str) -> None:
    for field in FIELDS[name]:
        big = json.dumps({**FIELDS[name], field: "8" * (MAX_BODY_BYTES // 2)})
        refused(post(client, name, big), 400)
        bigger = json.dumps({**FIELDS[name], field: "8" * (MAX_BODY_BYTES + 1)})
        refused(post(client, name, bigger), 413, "request_too_large")


@pytest.mark.parametrize("name", URLS)
def test_a_body_over_djangos_upload_limit_is_413_json(client: Client, name: str) -> None:
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024):
        body = json.dumps({**FIELDS[name], "x": "y" * 2048})
        assert refused(post(client, name, body), 413, "request_too_large")["detail"] == (
            "The body is too large."
        )


@pytest.mark.parametrize("name", URLS)
def test_a_body_over_the_default_upload_limit(client: Client, name: str) -> None:
    body = '{"phone": "' + "1" * 3_000_000 + '"}'
    refused(post(client, name, body), 413, "request_too_large")


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/jsonx",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
    ],
)
def test_wrong_media_types_are_415(client: Client, name: str, content_type: str) -> None:
    body = json.dumps(FIELDS[name]).encode()
    refused(post(client, name, body, content_type=content_type), 415, "unsupported_media_type")


@pytest.mark.parametrize("name", URLS)
def test_utf8_charset_is_taken(client: Client, name: str) -> None:
    body = json.dumps({**FIELDS[name], "phone": "not a number", "pin": ""})
    response = post(client, name, body, content_type="application/json; charset=UTF-8")
    refused(response, 400)
    assert response.json()["code"] != "parse_error"


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize("body", ["", "{}", " ", "\n"])
def test_empty_bodies(client: Client, name: str, body: str) -> None:
    code = refused(post(client, name, body), 400)["code"]
    if body in {"", "{}"}:  # no body at all is an empty form: its fields are missing
        assert code == {OTP: "invalid_phone", VERIFY: "invalid_request"}[name]
    else:
        assert code == "parse_error"


@pytest.mark.parametrize("name", URLS)
def test_get_is_405_json(client: Client, name: str) -> None:
    refused(client.get(reverse(name)), 405, "method_not_allowed")


def test_odd_bodies_count_no_limit(client: Client) -> None:
    """Refused bodies are not counted: a real request afterwards is not limited."""
    limited = {**settings.SEPSMS, "RATELIMITS": {"otp_send_ip": "1/h", "otp_verify_ip": "1/h"}}
    with override_settings(SEPSMS=limited):
        for _ in range(5):
            refused(post(client, OTP, "[" * DEEP), 400, "parse_error")
            refused(post(client, VERIFY, '{"pin": NaN}'), 400, "parse_error")
        assert post(client, VERIFY, '{"reference": "ABC123", "pin": "123456"}').status_code == 400
        assert post(client, VERIFY, '{"reference": "ABC123", "pin": "123456"}').status_code == 429


# Django's technical 500 page (DEBUG) and its error reports (DEBUG off) for a forced
# failure in the middle of a check: neither shows the pin or the flow token.
PIN = str(918_000 + 273)  # not written out: the page quotes this source file


def _broken_verify(reference: str, pin: str, **kwargs: Any) -> Any:
    raise RuntimeError("the database went away")


def _forced_failure(client: Client) -> tuple[Any, str]:
    now = timezone.now()
    flow_token = make_flow_token(
        flows.CodeRequest("66812345678", "verify", "ABC123", now, now + dt.timedelta(minutes=5))
    )
    with mock.patch.object(flows, "verify_otp", _broken_verify):
        body = {"reference": "ABC123", "pin": PIN, "flow_token": flow_token}
        return post(client, VERIFY, json.dumps(body)), flow_token.rsplit(":", 1)[1]


def test_the_debug_500_page_shows_no_pin(client: Client) -> None:
    with override_settings(DEBUG=True):
        response, signature = _forced_failure(client)
    assert response.status_code == 500
    page = response.content.decode()
    assert "the database went away" in page  # it is the technical page
    assert "_broken_verify" in page
    assert PIN not in page
    assert signature not in page
    assert "********************" in page  # the locals are listed, their values hidden


def test_error_reports_show_no_pin(client: Client) -> None:
    """With DEBUG off, the report mailed to ADMINS stars every local of the view and below."""
    reports = ErrorReports()
    logger = logging.getLogger("django.request")
    logger.addHandler(reports)
    try:
        response, signature = _forced_failure(client)
    finally:
        logger.removeHandler(reports)
    assert response.status_code == 500
    (report,) = reports.texts
    assert "the database went away" in report
    assert PIN not in report
    assert signature not in report
    assert "********************" in report  # the names are listed, their values starred
