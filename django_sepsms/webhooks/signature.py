"""Webhook signatures: ``X-Webhook-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``.

[assumed] The signed string is ``f"{t}.".encode() + raw_body`` with the webhook
secret as the key, the same shape as Stripe's scheme. A header may carry several
``v1=`` values; any one matching any configured secret is enough.

The header is read with an ASCII grammar: ``str.isdigit()`` and ``int()`` also
accept digits such as ``²`` or Arabic-Indic ones, and ``str.strip()`` strips spaces HTTP does
not have, so neither decides what a protocol field says.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

from .. import contract

#: The longest header read. Three secrets during a rotation need about 220
#: characters; anything much longer is not the provider's.
MAX_HEADER_LENGTH = 1024
#: One ``key=value`` item: a short ASCII key, a value of printable ASCII without
#: commas or spaces, optionally surrounded by spaces or tabs.
_ITEM = re.compile(r"[ \t]*([A-Za-z0-9_-]{1,16})=([!-+\--~]*)[ \t]*", re.ASCII)
#: Unix seconds, as ASCII digits (twelve reach the year 33658).
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
#: A hex HMAC-SHA256, either case.
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


@dataclass(frozen=True)
class ParsedSignature:
    timestamp: int
    signatures: tuple[str, ...]


@sensitive_variables()
def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"{timestamp}." + body`` under ``secret``."""
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


@sensitive_variables()
def build_signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value: one ``v1=`` per secret."""
    parts = [f"t={int(timestamp)}"]
    parts += [
        f"{contract.SIGNATURE_SCHEME}={compute_signature(s, timestamp, body)}" for s in secrets
    ]
    return ",".join(parts)


def parse_signature_header(header: str) -> ParsedSignature | None:
    """Split a header into its timestamp and ``v1`` values; ``None`` if malformed.

    Exactly one ``t`` (ASCII digits) and at least one ``v1`` (64 hex digits);
    items of other schemes (``v0=``, ``v2=``…) are ignored, but must still be
    printable ASCII ``key=value`` items.
    """
    if len(header) > MAX_HEADER_LENGTH:
        return None
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            return None
        key, value = match.groups()
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                return None
            timestamp = int(value)
        elif key == contract.SIGNATURE_SCHEME:
            if not _HEX_DIGEST.fullmatch(value):
                return None
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        return None
    return ParsedSignature(timestamp, tuple(signatures))


@sensitive_variables()
def signature_matches(parsed: ParsedSignature, body: bytes, secrets: Iterable[str]) -> bool:
    """Whether any ``v1`` value matches any secret, compared in constant time."""
    matched = False
    for secret in secrets:
        expected = compute_signature(secret, parsed.timestamp, body).encode("ascii")
        for candidate in parsed.signatures:
            # No early exit: the time taken does not depend on which one matched.
            matched |= hmac.compare_digest(expected, candidate.encode("ascii"))
    return matched
