"""Storing each genuine webhook once and applying it to the recorded rows.

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
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from ..contract import normalise_reference
from ..models import (
    FAILED_RECIPIENT_STATUSES,
    Message,
    MessageBatch,
    OtpChallenge,
    Recipient,
    WebhookEvent,
)
from ..phone import normalize_reported
from ..signals import credit_low, send_after_commit, webhook_received
from ..tracking.reports import Change, apply_message_report, apply_recipient_report
from ..tracking.sql import announce_change, receive_report_in_one_statement
from ..tracking.status import PROVIDER_DELIVERY_STATUS, recipient_statuses_below
from ..tracking.totals import refresh_message_totals

logger = logging.getLogger("django_sepsms.webhooks")

#: ``sms.*`` events → the message status they report.
SMS_EVENT_STATUS = {
    "sms.sent": Message.Status.PROCESSING,
    "sms.completed": Message.Status.COMPLETED,
    "sms.failed": Message.Status.FAILED,
}
#: ``sms.*`` events → the ``status`` values their bodies may carry.
SMS_EVENT_BODY_STATUSES = {
    "sms.sent": {"processing", "sent", "pending"},
    "sms.completed": {"completed"},
    "sms.failed": {"failed"},
}
#: ``dr.*`` events → the delivery status they report.
DR_EVENT_STATUS = {"dr.success": "success", "dr.failed": "failed"}
#: ``dr.*`` events → the recipient statuses their bodies' ``status`` may map to.
DR_EVENT_RECIPIENT_STATUSES: dict[str, frozenset[str]] = {
    "dr.success": frozenset({Recipient.Status.SUCCESS}),
    "dr.failed": frozenset(FAILED_RECIPIENT_STATUSES),
}
#: How long an unconfirmed send may wait for a report that names its numbers.
_ADOPTION_WINDOW_HOURS = 48
#: ``WebhookEvent.dedupe_key``'s ``max_length``.
_DEDUPE_KEY_LENGTH = 160
#: The salt of the keyed digest that stands for the number in a report's key.
_DEDUPE_NUMBER_SALT = "django_sepsms.webhooks.dedupe_key.msisdn"


@dataclass(frozen=True)
class Outcome:
    """What happened to a delivery: stored (new) or a duplicate, and how it applied."""

    duplicate: bool
    event: WebhookEvent | None = None


def dedupe_key(event: str, payload: Mapping[str, Any], body: bytes) -> str:
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
    """
    uuid, msisdn = _text(payload, "smsUuid"), _text(payload, "msisdn")
    tx_id = _text(payload, "txId")
    if event.startswith("dr.") and uuid and msisdn and tx_id:
        status = _text(payload, "status").strip().lower()
        number = normalize_reported(msisdn).encode("utf-8", "surrogatepass")
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


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


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
                sms_uuid=_text(payload, "smsUuid")[:64],
                tx_id=_text(payload, "txId")[:64],
                msisdn=normalize_reported(_text(payload, "msisdn"))[:16],
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

    uuid, msisdn = _text(payload, "smsUuid"), normalize_reported(_text(payload, "msisdn"))
    status = _reported_status(event, payload)
    if not uuid or not msisdn or status is None:
        return None
    key = dedupe_key(event, payload, body)
    now = timezone.now()
    try:
        # One statement is atomic on its own; inside a caller's transaction, a
        # savepoint keeps a duplicate from breaking it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            received = receive_report_in_one_statement(
                event=event,
                key=key,
                signed_at=signed_at,
                payload_json=json.dumps(dict(payload)),
                sms_uuid=uuid[:64],
                msisdn=msisdn[:16],
                status=status,
                lower=recipient_statuses_below(status),
                tx_id=_text(payload, "txId"),
                now=now,
            )
    except IntegrityError:
        if not WebhookEvent.objects.filter(dedupe_key=key).exists():
            raise
        return Outcome(duplicate=True)
    stored = WebhookEvent(
        pk=received.event_id,
        event=event,
        dedupe_key=key,
        signed_at=signed_at,
        received_at=now,
        payload=dict(payload),
        outcome=received.outcome,
        sms_uuid=uuid[:64],
        tx_id=_text(payload, "txId")[:64],
        msisdn=msisdn[:16],
        applied_at=received.applied_at,
    )
    if received.recipient is not None:
        announce_change(received.recipient, status, stored.tx_id)
    _signal(stored)
    # Waiting: a timed-out send may own this number; or the send's own answer
    # is being recorded right now (see receive()); or it reports on a code.
    waiting = received.outcome == WebhookEvent.Outcome.WAITING
    if waiting and (adopt_unconfirmed_batch(uuid, msisdn) or apply_waiting_events(uuid)):
        stored.refresh_from_db()
    return Outcome(duplicate=False, event=stored)


def apply_event(event: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """Apply one event's payload; return its outcome and an error text."""
    if event in DR_EVENT_STATUS:
        return _apply_delivery_report(event, payload)
    if event in SMS_EVENT_STATUS:
        uuid = _text(payload, "smsUuid")
        if not uuid:
            return WebhookEvent.Outcome.FAILED, "no smsUuid"
        reported = _text(payload, "status")
        if reported and reported not in SMS_EVENT_BODY_STATUSES[event]:
            return WebhookEvent.Outcome.FAILED, f"status {reported!r} does not match {event}"
        return _outcome(apply_message_report(uuid, SMS_EVENT_STATUS[event]))
    if event == "otp.verified":
        return _apply_otp_verified(payload)
    return WebhookEvent.Outcome.STORED, ""


def _reported_status(event: str, payload: Mapping[str, Any]) -> str | None:
    """The recipient status a ``dr.*`` body reports, if it agrees with the event."""
    reported = _text(payload, "status") or DR_EVENT_STATUS[event]
    status = PROVIDER_DELIVERY_STATUS.get(reported)
    return status if status in DR_EVENT_RECIPIENT_STATUSES[event] else None


def _apply_delivery_report(event: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    uuid, msisdn = _text(payload, "smsUuid"), normalize_reported(_text(payload, "msisdn"))
    if not uuid or not msisdn:
        return WebhookEvent.Outcome.FAILED, "no smsUuid or msisdn"
    status = _reported_status(event, payload)
    if status is None:
        reported = _text(payload, "status")
        return WebhookEvent.Outcome.FAILED, f"status {reported!r} does not match {event}"
    change = apply_recipient_report(uuid, msisdn, status, tx_id=_text(payload, "txId"))
    if not change.found:
        if _is_otp(uuid, msisdn):
            # The provider reports on its own codes too; no message row is theirs.
            return WebhookEvent.Outcome.STORED, ""
        if adopt_unconfirmed_batch(uuid, msisdn):
            change = apply_recipient_report(uuid, msisdn, status, tx_id=_text(payload, "txId"))
    return _outcome(change)


def _outcome(change: Change) -> tuple[str, str]:
    if not change.found:
        return WebhookEvent.Outcome.WAITING, ""
    if not change.changed:
        return WebhookEvent.Outcome.NO_CHANGE, ""
    return WebhookEvent.Outcome.APPLIED, ""


def _apply_otp_verified(payload: Mapping[str, Any]) -> tuple[str, str]:
    reference = normalise_reference(_text(payload, "reference"))
    phone = normalize_reported(_text(payload, "destination"))
    challenge = (
        OtpChallenge.objects.filter(reference=reference, phone=phone)
        .order_by("-created_at")
        .first()
    )
    if challenge is None:
        return WebhookEvent.Outcome.WAITING, ""
    if challenge.status != OtpChallenge.Status.PENDING:
        return WebhookEvent.Outcome.NO_CHANGE, ""
    # Verified at the provider by another path: it can never be used here again.
    OtpChallenge.objects.filter(pk=challenge.pk, status=OtpChallenge.Status.PENDING).update(
        status=OtpChallenge.Status.VERIFIED, verified_at=timezone.now()
    )
    return WebhookEvent.Outcome.APPLIED, ""


def adopt_unconfirmed_batch(uuid: str, msisdn: str) -> bool:
    """Give an unconfirmed batch the provider uuid a report names, if it is unambiguous.

    A send that timed out never learnt its uuid. A delivery report for an
    unknown uuid whose number belongs to exactly one recent unconfirmed batch
    tells us what happened to it. The uuid of a code the provider sent
    (``OtpChallenge.provider_uuid``) is never taken.
    """
    if MessageBatch.objects.filter(provider_uuid=uuid).exists():
        return False
    candidates = _unconfirmed_batches_with(msisdn)
    return len(candidates) == 1 and _adopt(candidates[0], uuid, msisdn)


def _adopt(batch_pk: int, uuid: str, msisdn: str) -> bool:
    """Record ``uuid`` (reported for ``msisdn``) as the provider's id of the batch ``batch_pk``."""
    if (
        MessageBatch.objects.filter(provider_uuid=uuid).exists()
        or _is_otp(uuid, msisdn)
        or _code_answer_pending(msisdn)
    ):
        return False
    adopted = MessageBatch.objects.filter(
        pk=batch_pk, provider_uuid__isnull=True, status=Message.Status.UNCONFIRMED
    ).update(provider_uuid=uuid, status=Message.Status.PENDING, error_code="")
    if not adopted:
        return False
    batch = MessageBatch.objects.select_related("message").get(pk=batch_pk)
    batch.recipients.filter(status=Recipient.Status.UNCONFIRMED).update(
        status=Recipient.Status.PENDING
    )
    logger.info("Unconfirmed batch %s matched provider message %s", batch.pk, uuid)
    refresh_message_totals(batch.message)
    apply_waiting_events(uuid)
    return True


def apply_waiting_events(uuid: str) -> int:
    """Apply events that arrived before their message was recorded. Returns how many applied."""
    applied = 0
    waiting = WebhookEvent.objects.filter(
        outcome=WebhookEvent.Outcome.WAITING, sms_uuid=uuid
    ).order_by("id")
    for stored in waiting:
        with transaction.atomic():
            locked = (
                WebhookEvent.objects.select_for_update()
                .filter(pk=stored.pk, outcome=WebhookEvent.Outcome.WAITING)
                .first()
            )
            if locked is None:
                continue
            outcome, error = apply_event(locked.event, locked.payload)
            if outcome == WebhookEvent.Outcome.WAITING:
                continue
            locked.outcome, locked.error = outcome, error[:255]
            locked.applied_at = timezone.now()
            locked.save(update_fields=["outcome", "error", "applied_at"])
            applied += 1
    return applied


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


def resolve_unconfirmed(batch: MessageBatch) -> bool:
    """Find the uuid of an unconfirmed batch among reports still waiting for theirs.

    A waiting report counts only if its number belongs to this batch alone
    among the recent unconfirmed ones, as for reports that arrive later.
    """
    phones = batch.recipients.values_list("phone", flat=True)
    reports = (
        WebhookEvent.objects.filter(
            outcome=WebhookEvent.Outcome.WAITING,
            event__in=list(DR_EVENT_STATUS),
            msisdn__in=phones,
            received_at__gte=batch.created_at - timedelta(seconds=1),
        )
        .exclude(sms_uuid="")
        .order_by("id")
    )
    for report in reports[:20]:
        if _unconfirmed_batches_with(report.msisdn) == [batch.pk]:
            return _adopt(batch.pk, report.sms_uuid, report.msisdn)
    return False


def _is_otp(uuid: str, msisdn: str) -> bool:
    """Whether ``uuid`` is the provider's id of a code it sent to ``msisdn``."""
    return OtpChallenge.objects.filter(phone=msisdn, provider_uuid=uuid).exists()


def _code_answer_pending(msisdn: str) -> bool:
    """Whether a recent provider-made code to ``msisdn`` has no uuid yet.

    Its answer is on its way (or was lost), and its report can come first:
    an unknown uuid may be that code's, so no batch may take it meanwhile.
    """
    since = timezone.now() - timedelta(hours=_ADOPTION_WINDOW_HOURS)
    return OtpChallenge.objects.filter(
        phone=msisdn, mode=OtpChallenge.Mode.PROVIDER, provider_uuid="", created_at__gte=since
    ).exists()


def _unconfirmed_batches_with(msisdn: str) -> list[int]:
    """Recent unconfirmed batches (at most two) that sent to ``msisdn``."""
    since = timezone.now() - timedelta(hours=_ADOPTION_WINDOW_HOURS)
    return list(
        MessageBatch.objects.filter(
            status=Message.Status.UNCONFIRMED,
            provider_uuid__isnull=True,
            created_at__gte=since,
            recipients__phone=msisdn,
        ).values_list("pk", flat=True)[:2]
    )
