"""Helpers for testing a project that uses django-sepsms: signed webhooks, and the
locmem backend with an empty outbox for Django ``TestCase`` classes
(:class:`SmsOutboxMixin`); the pytest plugin gives the same to every test."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.test import TestCase, override_settings

import django_sepsms

from . import contract
from .webhooks.signature import build_signature_header

#: The backend tests get: it keeps each SMS in ``django_sepsms.outbox``.
LOCMEM_BACKEND = "django_sepsms.backends.locmem.LocmemBackend"

if TYPE_CHECKING:
    from django.test import SimpleTestCase

    _TestCaseBase = SimpleTestCase
else:
    _TestCaseBase = object


def locmem_settings(sepsms: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``sepsms`` (by default ``settings.SEPSMS``) with the locmem backend.

    Everything else is kept: the sender name, the OTP settings, ``USE_TASKS``.
    ``ALLOW_LOCAL_BACKEND_IN_PRODUCTION`` is set, since the backend is the
    tests' choice, not the site's (test settings usually have ``DEBUG = False``).
    """
    current = getattr(settings, "SEPSMS", None) if sepsms is None else sepsms
    return {
        **(current if isinstance(current, Mapping) else {}),
        "BACKEND": LOCMEM_BACKEND,
        "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
    }


class SmsOutboxMixin(_TestCaseBase):
    """Mix into a Django ``TestCase``: its tests get the locmem backend, and
    :attr:`sms_outbox` (``django_sepsms.outbox``) is empty at the start of each.

    A ``@override_settings(SEPSMS=...)`` on the class or a test still wins.
    """

    @classmethod
    def setUpClass(cls) -> None:
        # Before the class's own overrides, which are applied inside this one.
        locmem = override_settings(SEPSMS=locmem_settings())
        locmem.enable()
        cls.addClassCleanup(locmem.disable)
        super().setUpClass()

    def setUp(self) -> None:
        django_sepsms.outbox.clear()
        self.addCleanup(django_sepsms.outbox.clear)
        super().setUp()

    @property
    def sms_outbox(self) -> list[Any]:
        """The messages sent so far by this test (``django_sepsms.outbox``)."""
        return django_sepsms.outbox


class SmsTestCase(SmsOutboxMixin, TestCase):
    """A Django ``TestCase`` with the locmem backend and an empty :attr:`sms_outbox`."""


def sign_webhook(
    body: bytes | str | dict[str, Any],
    secret: str,
    timestamp: int | None = None,
    *,
    event: str = "dr.success",
) -> dict[str, Any]:
    """Headers that make ``body`` a genuine webhook delivery signed with ``secret``.

    Returns Django test-client keys (``HTTP_X_WEBHOOK_SIGNATURE`` …), ready for
    ``client.post(url, body, content_type="application/json", **headers)`` (typed
    ``dict[str, Any]`` so that spreading them there type-checks; the values are str).
    For plain header names (``requests``, ``Client(headers=...)``) use
    :func:`webhook_headers`. Post exactly the bytes that were signed.
    """
    return {
        "HTTP_" + name.upper().replace("-", "_"): value
        for name, value in webhook_headers(body, secret, timestamp, event=event).items()
    }


def webhook_headers(
    body: bytes | str | dict[str, Any],
    secret: str,
    timestamp: int | None = None,
    *,
    event: str = "dr.success",
) -> dict[str, str]:
    """Like :func:`sign_webhook`, with plain header names (``X-Webhook-Signature``)."""
    raw = webhook_body(body)
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        contract.HEADER_WEBHOOK_EVENT: event,
        contract.HEADER_WEBHOOK_TIMESTAMP: str(ts),
        contract.HEADER_WEBHOOK_SIGNATURE: build_signature_header([secret], ts, raw),
    }


def webhook_body(body: bytes | str | dict[str, Any]) -> bytes:
    """The bytes to post: dicts are JSON-encoded compactly, str UTF-8 encoded."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
