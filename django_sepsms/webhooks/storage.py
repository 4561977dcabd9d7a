"""Storing each genuine webhook once, then applying it (:mod:`django_sepsms.tracking.events`).

The provider's payloads carry no event id, so a delivery is identified by its
event name, ``smsUuid``, number and ``txId`` (delivery reports) or by a hash of
its name and raw body (everything else). A unique constraint on that key makes
redeliveries harmless: the second one rolls back with everything it would have
changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from ..models import WebhookEvent
from ..phone import normalize_reported
from ..signals import credit_low, send_after_commit, webhook_received
from ..tracking.events import (
    adopt_unconfirmed_batch,
    apply_event,
    apply_waiting_events,
    reported_status,
    text_field,
)
from ..tracking.sql import announce_change, receive_report_in_one_statement
from ..tracking.status import DR_EVENT_STATUS, recipient_statuses_below

logger = logging.getLogger("django_sepsms.webhooks")

#: ``WebhookEvent.dedupe_key``'s ``max_length``.
_DEDUPE_KEY_LENGTH = 160
#: The salt of the keyed digest that stands for the number in a report's key.
_DEDUPE_NUMBER_SALT = "django_sepsms.webhooks.dedupe_key.msisdn"


@dataclass(frozen=True)
class Outcome:
    """What happened to a delivery: stored (new) or a duplicate, and how it applied."""

    duplicate: bool
    #: The stored event; ``None`` for a duplicate, and for a delivery report
    #: stored in one statement that no one listens for (then see ``event_id``).
    event: WebhookEvent | None = None
    event_id: int | None = None
    #: How the stored event applied (``WebhookEvent.Outcome``), when ``event`` is ``None``.
    applied: str | None = None

    @property
    def outcome(self) -> str:
        """``duplicate``, or how the event applied (``applied``, ``stale``, …)."""
        if self.duplicate:
            return "duplicate"
        if self.event is not None:
            return str(self.event.outcome)
        return str(self.applied or "ok")


def dedupe_key(
    event: str, payload: Mapping[str, Any], body: bytes, *, msisdn: str | None = None
) -> str:
    """The key that makes a redelivery of the same event a duplicate.

    A delivery report is one number's report on one message: the page never
    says a ``txId`` is unique across messages or numbers, so all three count,
    and so does its status (``dr.failed`` may say ``expired``, then
    ``refunded``): ``dr.success:<smsUuid>:<number>:<txId>:<status>``.

    The number is never in the key: it stands there as the first 32 hex digits
    of a keyed digest (HMAC-SHA256 under ``SECRET_KEY``) of its normalised
    form, so every way of writing one number gives one key. A plain digest
    would not do: there are few enough mobile numbers to try them all. After a
    change of ``SECRET_KEY``, a redelivery of a report stored before it is
    stored again, and applied as ``no_change``.

    ``msisdn``, when given, is the body's number already normalised.
    """
    uuid, raw = text_field(payload, "smsUuid"), text_field(payload, "msisdn")
    tx_id = text_field(payload, "txId")
    if event.startswith("dr.") and uuid and raw and tx_id:
        status = text_field(payload, "status").strip().lower()
        number = (msisdn or normalize_reported(raw)).encode("utf-8", "surrogatepass")
        number_digest = salted_hmac(_DEDUPE_NUMBER_SALT, number, algorithm="sha256")
        parts = (event, uuid, number_digest.hexdigest()[:32], tx_id, *([status] if status else []))
        key = ":".join(parts)
        plain = key.isascii() and key.isprintable()
        if plain and len(key) <= _DEDUPE_KEY_LENGTH and key.count(":") == len(parts) - 1:
            return key
        digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
        return f"{event}:sha256:{digest}"
    digest = hashlib.sha256(event.encode() + b"\n" + body).hexdigest()
    return f"{event}:sha256:{digest}"


def receive(event: str, timestamp: int, payload: Mapping[str, Any], body: bytes) -> Outcome:
    """Apply and store one verified delivery, atomically; a duplicate changes nothing."""
    signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
    if connection.vendor == "postgresql" and event in DR_EVENT_STATUS:
        fast = _receive_report_on_postgresql(event, signed_at, payload, body)
        if fast is not None:
            return fast
    try:
        with transaction.atomic():
            outcome, error = apply_event(event, payload)
            stored = WebhookEvent.objects.create(
                event=event,
                dedupe_key=dedupe_key(event, payload, body),
                signed_at=signed_at,
                payload=dict(payload),
                outcome=outcome,
                sms_uuid=text_field(payload, "smsUuid")[:64],
                tx_id=text_field(payload, "txId")[:64],
                msisdn=normalize_reported(text_field(payload, "msisdn"))[:16],
                error=error[:255],
                applied_at=timezone.now() if outcome == WebhookEvent.Outcome.APPLIED else None,
            )
            _signal(stored)
    except IntegrityError:
        if not WebhookEvent.objects.filter(dedupe_key=dedupe_key(event, payload, body)).exists():
            raise
        return Outcome(duplicate=True)
    if stored.outcome == WebhookEvent.Outcome.WAITING and stored.sms_uuid:
        # The send may have recorded its uuid while this event was being
        # stored, and looked for waiting events just before it was visible.
        apply_waiting_events(stored.sms_uuid)
    return Outcome(duplicate=False, event=stored)


def _receive_report_on_postgresql(
    event: str, signed_at: datetime, payload: Mapping[str, Any], body: bytes
) -> Outcome | None:
    """A delivery report in one statement (campaigns bring them by the thousand).

    Returns ``None`` for a report the general path must handle (malformed).
    """

    uuid, msisdn = (
        text_field(payload, "smsUuid"),
        normalize_reported(text_field(payload, "msisdn")),
    )
    status = reported_status(event, payload)
    if not uuid or not msisdn or status is None:
        return None
    key = dedupe_key(event, payload, body, msisdn=msisdn)
    now = timezone.now()
    tx_id = text_field(payload, "txId")
    try:
        # One statement is atomic on its own; inside a caller's transaction, a
        # savepoint keeps a duplicate from breaking it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            received = receive_report_in_one_statement(
                event=event,
                key=key,
                signed_at=signed_at,
                payload_json=json.dumps(payload if isinstance(payload, dict) else dict(payload)),
                sms_uuid=uuid[:64],
                msisdn=msisdn[:16],
                status=status,
                lower=recipient_statuses_below(status),
                tx_id=tx_id,
                now=now,
            )
    except IntegrityError:
        if not WebhookEvent.objects.filter(dedupe_key=key).exists():
            raise
        return Outcome(duplicate=True)
    if received.recipient is not None:
        announce_change(received.recipient, status, tx_id[:64])
    # Waiting: a timed-out send may own this number; or the send's own answer
    # is being recorded right now (see receive()); or it reports on a code.
    waiting = received.outcome == WebhookEvent.Outcome.WAITING
    if not waiting and not webhook_received.has_listeners(WebhookEvent):
        # Nobody to hand the event to: no stand-in row is built.
        return Outcome(duplicate=False, event_id=received.event_id, applied=received.outcome)
    stored = WebhookEvent(
        pk=received.event_id,
        event=event,
        dedupe_key=key,
        signed_at=signed_at,
        received_at=now,
        payload=dict(payload),
        outcome=received.outcome,
        sms_uuid=uuid[:64],
        tx_id=tx_id[:64],
        msisdn=msisdn[:16],
        applied_at=received.applied_at,
    )
    _signal(stored)
    if waiting and (adopt_unconfirmed_batch(uuid, msisdn) or apply_waiting_events(uuid)):
        stored.refresh_from_db()
    return Outcome(duplicate=False, event=stored)


def _signal(stored: WebhookEvent) -> None:
    send_after_commit(
        webhook_received, WebhookEvent, event=stored, name=stored.event, payload=stored.payload
    )
    if stored.event == "credit.low":
        balance = stored.payload.get("balance")
        send_after_commit(
            credit_low,
            WebhookEvent,
            balance=balance if isinstance(balance, int) else None,
            event=stored,
        )
