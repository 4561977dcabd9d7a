"""The receiver's event-name check against the cache it is given.

The first name of each signed delivery is kept in ``SEPSMS["CACHE"]``: its
keys follow that cache's ``KEY_PREFIX``, ``VERSION`` and key function, a cache
that is not Redis keeps the check, and a cache that is down never refuses a
genuine delivery (the stored key still deduplicates).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import Client, override_settings

from django_sepsms import send_sms
from django_sepsms.models import Message, Recipient, WebhookEvent
from django_sepsms.testing import sign_webhook
from tests.backends import FixedUuidBackend

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_current"
URL = "/sepsms/webhook/"
REDIS_URL = settings.CACHES["default"]["LOCATION"]


@pytest.fixture
def message(sms_outbox: list[Any]) -> Iterator[Message]:
    FixedUuidBackend.next_uuid = "sms-1"
    with override_settings(
        SEPSMS={
            "BACKEND": "tests.backends.FixedUuidBackend",
            "ORIGIN": "TESTSHOP",
            "WEBHOOK_SECRETS": [SECRET],
            "CACHE": "webhooks",
        }
    ):
        yield send_sms("Hi", ["0812345678"])


def deliver(client: Client, event: str, headers: dict[str, str], body: bytes) -> Any:
    meta: dict[str, Any] = {**headers, "HTTP_X_WEBHOOK_EVENT": event}
    return client.generic("POST", URL, body, content_type="application/json", **meta)


def report() -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"smsUuid": "sms-1", "msisdn": "66812345678", "txId": "tx-1", "status": "success"}
    ).encode()
    return body, sign_webhook(body, SECRET, int(time.time()), event="dr.success")


def _key_function(key: str, key_prefix: str, version: int) -> str:
    return f"custom|{key_prefix}|{version}|{key}"


def test_the_event_name_key_follows_the_caches_prefix_version_and_key_function(
    client: Client, message: Message
) -> None:
    prefix = f"wh-{os.getpid()}"
    webhooks = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": prefix,
        "VERSION": 7,
        "KEY_FUNCTION": f"{__name__}._key_function",
    }
    with override_settings(CACHES={**settings.CACHES, "webhooks": webhooks}):
        body, headers = report()
        assert deliver(client, "dr.success", headers, body).status_code == 200
        keys = redis.Redis.from_url(REDIS_URL).keys(f"custom|{prefix}|7|sepsms:webhook:signed:*")
        assert len(keys) == 1
        assert deliver(client, "dr.failed", headers, body).status_code == 400
        caches["webhooks"].clear()


def test_a_cache_that_is_not_redis_still_refuses_another_name(
    client: Client, message: Message
) -> None:
    webhooks = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "wh"}
    with override_settings(CACHES={**settings.CACHES, "webhooks": webhooks}):
        body, headers = report()
        assert deliver(client, "dr.success", headers, body).status_code == 200
        assert deliver(client, "dr.failed", headers, body).status_code == 400
        assert deliver(client, "dr.success", headers, body).json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1


def test_a_cache_that_is_down_never_refuses_a_genuine_delivery(
    client: Client, message: Message, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis down is not a reason to make the provider retry: the delivery is stored
    and applied, the unique key still catches its repeats, and the log says why the
    name was not checked, with no number or payload."""
    down = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"socket_connect_timeout": 0.2, "password": "s3cret-pw"},
    }
    with (
        override_settings(CACHES={**settings.CACHES, "webhooks": down}),
        caplog.at_level(logging.WARNING, logger="django_sepsms.webhooks"),
    ):
        body, headers = report()
        assert deliver(client, "dr.success", headers, body).status_code == 200
        assert deliver(client, "dr.success", headers, body).json() == {"status": "duplicate"}
    recipient = Recipient.objects.get(message=message, phone="66812345678")
    assert recipient.status == Recipient.Status.SUCCESS
    assert "the cache failed (ConnectionError)" in caplog.text
    for secret in ("66812345678", "0812345678", "s3cret-pw", "sms-1"):
        assert secret not in caplog.text
