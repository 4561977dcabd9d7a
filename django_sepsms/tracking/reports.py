"""Applying delivery reports (from webhooks or polling) to the recorded rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ..models import Message, MessageBatch, Recipient
from ..signals import delivery_status_changed, send_after_commit
from ..telemetry import hooks as telemetry
from .sql import announce_change, apply_in_one_statement
from .status import (
    MESSAGE_RANK,
    RECIPIENT_RANK,
    delivered_delta,
    lock_message,
    message_status_from,
    message_statuses_below,
    recipient_statuses_below,
)


@dataclass(frozen=True)
class Change:
    """What applying one report did."""

    found: bool
    changed: bool
    old_status: str = ""
    new_status: str = ""


def apply_recipient_report(
    sms_uuid: str, msisdn: str, status: str, *, tx_id: str = "", at: datetime | None = None
) -> Change:
    """Move one recipient of the batch ``sms_uuid`` to ``status`` if it ranks higher.

    Returns ``Change(found=False)`` when no such recipient is recorded (yet).
    Message counts are updated in the same transaction, so they stay exact
    under concurrent reports for the same message.
    """
    at = at or timezone.now()
    if connection.vendor == "postgresql":
        return _apply_on_postgresql(sms_uuid, msisdn, status, tx_id, at)
    # No savepoint of its own: inside the webhook's transaction it is all or nothing anyway.
    with transaction.atomic(savepoint=False):
        # Lock only the recipient row (not the joined batch and message), found
        # through the (provider uuid) and (batch, phone) indexes, without sorting.
        recipient = next(
            iter(
                Recipient.objects.select_for_update(of=("self",))
                .filter(batch__provider_uuid=sms_uuid, phone=msisdn)
                .only("id", "message_id", "status", "tx_id")
                .order_by()[:1]
            ),
            None,
        )
        if recipient is None:
            return Change(found=False, changed=False)
        old = recipient.status
        if RECIPIENT_RANK[status] <= RECIPIENT_RANK.get(old, 0):
            if tx_id and not recipient.tx_id:
                Recipient.objects.filter(pk=recipient.pk).update(tx_id=tx_id[:64])
            return Change(found=True, changed=False, old_status=old, new_status=old)
        Recipient.objects.filter(pk=recipient.pk).update(
            status=status,
            tx_id=tx_id[:64] or recipient.tx_id,
            status_changed_at=at,
        )
        delivered, failed = delivered_delta(old, status)
        if delivered or failed:
            Message.objects.filter(pk=recipient.message_id).update(
                delivered_count=F("delivered_count") + delivered,
                failed_count=F("failed_count") + failed,
            )
        recipient.status = status
        send_after_commit(
            delivery_status_changed,
            Recipient,
            recipient=recipient,
            old_status=old,
            new_status=status,
        )
    telemetry.recipients_reached(status)
    return Change(found=True, changed=True, old_status=old, new_status=status)


def _apply_on_postgresql(
    sms_uuid: str, msisdn: str, status: str, tx_id: str, at: datetime
) -> Change:
    with transaction.atomic(savepoint=False):
        row = apply_in_one_statement(
            sms_uuid, msisdn, status, recipient_statuses_below(status), tx_id, at
        )
        if row is None:
            return Change(found=False, changed=False)
        if not row.changed:
            return Change(
                found=True, changed=False, old_status=row.old_status, new_status=row.old_status
            )
        announce_change(row, status, tx_id)
    telemetry.recipients_reached(status)
    return Change(found=True, changed=True, old_status=row.old_status, new_status=status)


def apply_message_report(sms_uuid: str, status: str) -> Change:
    """Move the batch ``sms_uuid`` (and its message) forward to ``status``."""
    if status not in MESSAGE_RANK:
        return Change(found=True, changed=False)
    with transaction.atomic(savepoint=False):
        batch = next(
            iter(
                MessageBatch.objects.select_for_update(of=("self",))
                .filter(provider_uuid=sms_uuid)
                .only("id", "message_id", "status")
                .order_by()[:1]
            ),
            None,
        )
        if batch is None:
            return Change(found=False, changed=False)
        old = batch.status
        if MESSAGE_RANK[status] <= MESSAGE_RANK.get(old, 0):
            return Change(found=True, changed=False, old_status=old, new_status=old)
        MessageBatch.objects.filter(pk=batch.pk).update(status=status)
        # Its siblings are read once the message is locked: the reports of the
        # others that got the lock first have committed, so the last report
        # of a message always sees every batch final.
        lock_message(batch.message_id)
        target = message_status_from(
            set(
                MessageBatch.objects.filter(message_id=batch.message_id).values_list(
                    "status", flat=True
                )
            )
        )
        if Message.objects.filter(
            pk=batch.message_id, status__in=message_statuses_below(target)
        ).update(status=target):
            telemetry.messages_reached(target)
    return Change(found=True, changed=True, old_status=old, new_status=status)
