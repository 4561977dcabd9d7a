"""Helpers for testing a project that uses django-sepsms."""

from __future__ import annotations

import json
import time
from typing import Any

from . import contract
from .webhooks.signature import build_signature_header


def sign_webhook(
    body: bytes | str | dict[str, Any],
    secret: str,
    timestamp: int | None = None,
    *,
    event: str = "dr.success",
) -> dict[str, str]:
    """Headers that make ``body`` a genuine webhook delivery signed with ``secret``.

    Returns Django test-client keys (``HTTP_X_WEBHOOK_SIGNATURE`` …), ready for
    ``client.post(url, body, content_type="application/json", **headers)``.
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
