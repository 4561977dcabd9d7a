"""Applying webhook events to the recorded rows: what each event name reports, and how.

A report can arrive before the answer to the send it reports on, or for a
send that timed out: it then waits (``WebhookEvent.Outcome.WAITING``) and is
applied when its send learns the uuid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..contract import normalise_reference
from ..models import (
    MessageBatch,
    OtpChallenge,
    WebhookEvent,
)
from ..phone import normalize_reported
from .reconcile import adopt, is_provider_code, sole_unconfirmed_batch, waiting_report_for
from .reports import Change, apply_message_report, apply_recipient_report
from .status import (
    DR_EVENT_RECIPIENT_STATUSES,
    DR_EVENT_STATUS,
    PROVIDER_DELIVERY_STATUS,
    SMS_EVENT_BODY_STATUSES,
    SMS_EVENT_STATUS,
)


def text_field(payload: Mapping[str, Any], key: str) -> str:
    """The string ``payload[key]``, or ``""`` if it is missing or not a string."""
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def apply_event(event: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """Apply one event's payload; return its outcome and an error text."""
    if event in DR_EVENT_STATUS:
        return _apply_delivery_report(event, payload)
    if event in SMS_EVENT_STATUS:
        uuid = text_field(payload, "smsUuid")
        if not uuid:
            return WebhookEvent.Outcome.FAILED, "no smsUuid"
        reported = text_field(payload, "status")
        if reported and reported not in SMS_EVENT_BODY_STATUSES[event]:
            return WebhookEvent.Outcome.FAILED, f"status {reported!r} does not match {event}"
        return _outcome(apply_message_report(uuid, SMS_EVENT_STATUS[event]))
    if event == "otp.verified":
        return _apply_otp_verified(payload)
    return WebhookEvent.Outcome.STORED, ""


def reported_status(event: str, payload: Mapping[str, Any]) -> str | None:
    """The recipient status a ``dr.*`` body reports, if it agrees with the event."""
    reported = text_field(payload, "status") or DR_EVENT_STATUS[event]
    status = PROVIDER_DELIVERY_STATUS.get(reported)
    return status if status in DR_EVENT_RECIPIENT_STATUSES[event] else None


def _apply_delivery_report(event: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    uuid, msisdn = (
        text_field(payload, "smsUuid"),
        normalize_reported(text_field(payload, "msisdn")),
    )
    if not uuid or not msisdn:
        return WebhookEvent.Outcome.FAILED, "no smsUuid or msisdn"
    status = reported_status(event, payload)
    if status is None:
        reported = text_field(payload, "status")
        return WebhookEvent.Outcome.FAILED, f"status {reported!r} does not match {event}"
    change = apply_recipient_report(uuid, msisdn, status, tx_id=text_field(payload, "txId"))
    if not change.found:
        if is_provider_code(uuid, msisdn):
            # The provider reports on its own codes too; no message row is theirs.
            return WebhookEvent.Outcome.STORED, ""
        if adopt_unconfirmed_batch(uuid, msisdn):
            change = apply_recipient_report(
                uuid, msisdn, status, tx_id=text_field(payload, "txId")
            )
    return _outcome(change)


def _outcome(change: Change) -> tuple[str, str]:
    if not change.found:
        return WebhookEvent.Outcome.WAITING, ""
    if not change.changed:
        return WebhookEvent.Outcome.NO_CHANGE, ""
    return WebhookEvent.Outcome.APPLIED, ""


def _apply_otp_verified(payload: Mapping[str, Any]) -> tuple[str, str]:
    reference = normalise_reference(text_field(payload, "reference"))
    phone = normalize_reported(text_field(payload, "destination"))
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


def adopt_unconfirmed_batch(uuid: str, msisdn: str) -> bool:
    """Give an unconfirmed batch the provider uuid a report names, if it is unambiguous.

    Then apply the reports that waited for that uuid. See :mod:`.reconcile`.
    """
    batch_pk = sole_unconfirmed_batch(uuid, msisdn)
    if batch_pk is None or not adopt(batch_pk, uuid, msisdn):
        return False
    apply_waiting_events(uuid)
    return True


def resolve_unconfirmed(batch: MessageBatch) -> bool:
    """Find the uuid of an unconfirmed batch among reports still waiting for theirs.

    Then apply the reports that waited for it. See :mod:`.reconcile`.
    """
    found = waiting_report_for(batch)
    if found is None or not adopt(batch.pk, *found):
        return False
    apply_waiting_events(found[0])
    return True
