"""Deciding whether a webhook delivery is genuine, from its headers and raw body."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

from .. import contract
from ..exceptions import WebhookValidationError
from .signature import parse_signature_header, signature_matches

#: An event name: ASCII letters, digits and ``._:-``, as long as ``WebhookEvent.event`` holds.
_EVENT = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
#: Spaces and tabs, the only white space HTTP puts around a header value.
_OWS = " \t"


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery whose signature and timestamp checked out."""

    event: str
    timestamp: int


@sensitive_variables()
def verify_delivery(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Sequence[str],
    tolerance: int,
    now: float | None = None,
) -> VerifiedDelivery:
    """Check the signature over the raw ``body``, then the timestamp window.

    Raises :class:`WebhookValidationError` whose message says why (for logs
    only: every refusal gets the same answer).
    """
    if not secrets:
        raise WebhookValidationError("no webhook secret is configured")
    header = headers.get(contract.HEADER_WEBHOOK_SIGNATURE, "")
    if not header:
        raise WebhookValidationError("missing signature header")
    parsed = parse_signature_header(header)
    if parsed is None:
        raise WebhookValidationError("malformed signature header")
    if not signature_matches(parsed, body, secrets):
        raise WebhookValidationError("signature does not match")
    stated = headers.get(contract.HEADER_WEBHOOK_TIMESTAMP)
    # str(int) is ASCII digits, so this equality is the whole grammar of the header.
    if stated is not None and stated.strip(_OWS) != str(parsed.timestamp):
        raise WebhookValidationError("timestamp header differs from the signed timestamp")
    current = time.time() if now is None else now
    if abs(current - parsed.timestamp) > tolerance:
        raise WebhookValidationError("timestamp outside the tolerance window")
    event = headers.get(contract.HEADER_WEBHOOK_EVENT, "").strip(_OWS)
    if not _EVENT.fullmatch(event):
        raise WebhookValidationError("missing or malformed event header")
    return VerifiedDelivery(event, parsed.timestamp)
