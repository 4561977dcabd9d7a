from __future__ import annotations

import json
from typing import Any

import pytest

import django_sepsms
from django_sepsms import send_sms
from django_sepsms.testing import sign_webhook, webhook_body, webhook_headers
from django_sepsms.webhooks.signature import (
    compute_signature,
    parse_signature_header,
    signature_matches,
)


@pytest.mark.django_db
def test_sms_outbox_fixture_starts_empty(sms_outbox: list[Any]) -> None:
    assert sms_outbox == []
    send_sms("Hi", ["0812345678"])
    assert sms_outbox is django_sepsms.outbox
    assert len(sms_outbox) == 1


def test_sign_webhook_returns_test_client_keys() -> None:
    headers = sign_webhook(b'{"a":1}', "whsec_x", timestamp=1737020405)
    assert headers == {
        "HTTP_X_WEBHOOK_EVENT": "dr.success",
        "HTTP_X_WEBHOOK_TIMESTAMP": "1737020405",
        "HTTP_X_WEBHOOK_SIGNATURE": "t=1737020405,v1="
        + compute_signature("whsec_x", 1737020405, b'{"a":1}'),
    }


def test_webhook_headers_plain_names_and_body_forms() -> None:
    body = {"smsUuid": "u", "msisdn": "66812345678", "status": "success"}
    headers = webhook_headers(body, "s", event="dr.failed")
    assert headers["X-Webhook-Event"] == "dr.failed"
    parsed = parse_signature_header(headers["X-Webhook-Signature"])
    assert parsed is not None
    assert parsed.timestamp == int(headers["X-Webhook-Timestamp"])
    assert signature_matches(parsed, webhook_body(body), ["other", "s"])
    assert json.loads(webhook_body(body)) == body
    assert webhook_body("ก") == "ก".encode()
