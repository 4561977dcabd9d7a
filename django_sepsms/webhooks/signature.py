"""Webhook signatures: ``X-Webhook-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``.

[assumed] The signed string is ``f"{t}.".encode() + raw_body`` with the webhook
secret as the key, the same shape as Stripe's scheme. A header may carry several
``v1=`` values; any one matching any configured secret is enough.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from .. import contract


@dataclass(frozen=True)
class ParsedSignature:
    timestamp: int
    signatures: tuple[str, ...]


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"{timestamp}." + body`` under ``secret``."""
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def build_signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value: one ``v1=`` per secret."""
    parts = [f"t={int(timestamp)}"]
    parts += [
        f"{contract.SIGNATURE_SCHEME}={compute_signature(s, timestamp, body)}" for s in secrets
    ]
    return ",".join(parts)


def parse_signature_header(header: str) -> ParsedSignature | None:
    """Split a header into its timestamp and ``v1`` values; ``None`` if malformed.

    Unknown schemes (``v0=``, ``v2=``…) are ignored.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if timestamp is not None or not value.isdigit() or len(value) > 12:
                return None
            timestamp = int(value)
        elif key == contract.SIGNATURE_SCHEME:
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        return None
    return ParsedSignature(timestamp, tuple(signatures))


def signature_matches(parsed: ParsedSignature, body: bytes, secrets: Iterable[str]) -> bool:
    """Whether any ``v1`` value matches any secret, compared in constant time."""
    matched = False
    for secret in secrets:
        expected = compute_signature(secret, parsed.timestamp, body).encode("ascii")
        for candidate in parsed.signatures:
            # No early exit: the time taken does not depend on which one matched.
            matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched
