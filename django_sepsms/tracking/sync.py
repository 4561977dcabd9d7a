"""Refreshing delivery status from the provider (``sepsms_sync``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..backends.base import BaseBackend
from ..backends.loading import get_backend
from ..exceptions import SepsmsError
from ..models import FINAL_MESSAGE_STATUSES, Message, MessageBatch, Recipient
from ..phone import mask_phones_in, normalize_reported
from ..signals import delivery_status_changed, send_after_commit
from .events import resolve_unconfirmed
from .reports import apply_message_report, apply_recipient_report
from .status import (
    MESSAGE_RANK,
    PROVIDER_DELIVERY_STATUS,
    RECIPIENT_RANK,
    RECIPIENT_TERMINAL,
    delivered_delta,
)
from .totals import refresh_message_totals

logger = logging.getLogger("django_sepsms")

#: Messages in these statuses may still change at the provider.
OPEN_STATUSES = (
    Message.Status.PENDING,
    Message.Status.SCHEDULED,
    Message.Status.PROCESSING,
    Message.Status.UNCONFIRMED,
)

#: The error code of a recipient the provider blocked (counted in ``blockedCount``).
BLOCKED = "blocked"

#: Recipient statuses a later report may still change.
_OPEN_RECIPIENT_STATUSES = [s for s in RECIPIENT_RANK if s not in RECIPIENT_TERMINAL]


@dataclass
class SyncReport:
    """What a sync did."""

    messages: int = 0
    recipients_changed: int = 0
    unresolved: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: Messages whose batches were all final, given their final status.
    settled: list[int] = field(default_factory=list)


def sync_message(
    msg: Message, backend: BaseBackend, report: SyncReport | None = None
) -> SyncReport:
    """Ask the provider about every batch of ``msg`` and apply what it says.

    A message not final whose batches all are gets its final status (and its
    counts) from them, without asking the provider anything.
    """
    report = report or SyncReport()
    report.messages += 1
    if msg.status not in FINAL_MESSAGE_STATUSES and settle_if_final(msg):
        report.settled.append(msg.pk)
        return report
    for batch in msg.batches.all():
        if not batch.provider_uuid:
            if batch.status != Message.Status.UNCONFIRMED:
                continue
            # The provider's uuid never came back: only a delivery report naming
            # one of these numbers can tell what happened.
            if resolve_unconfirmed(batch):
                batch.refresh_from_db()
            if not batch.provider_uuid:
                report.unresolved.append(msg.pk)
                continue
        uuid = batch.provider_uuid
        info = backend.get_message_status(uuid)
        if info.status in MESSAGE_RANK:
            apply_message_report(uuid, info.status)
        # Blocked numbers can only be told once the provider is done with the batch.
        listed: set[str] | None = (
            set() if batch.blocked_count and info.status in FINAL_MESSAGE_STATUSES else None
        )
        for row in backend.iter_recipient_statuses(uuid):
            phone = normalize_reported(row.msisdn)
            if listed is not None:
                listed.add(phone)
            status = PROVIDER_DELIVERY_STATUS.get(row.dr_status)
            if status is None:
                continue
            change = apply_recipient_report(
                uuid,
                phone,
                status,
                tx_id=row.tx_id,
                at=row.updated_at,
            )
            report.recipients_changed += int(change.changed)
        if listed is not None:
            report.recipients_changed += fail_blocked_recipients(batch, listed)
    return report


def settle_if_final(msg: Message) -> bool:
    """Derive the status and counts of ``msg`` anew if all its batches are final.

    Returns whether they were. Once every batch is final, nothing more is
    expected from the provider about the message, so its own status must be
    final too; this puts it right whatever left it otherwise.
    """
    batches = MessageBatch.objects.filter(message=msg)
    if not batches.exists() or batches.exclude(status__in=FINAL_MESSAGE_STATUSES).exists():
        return False
    refresh_message_totals(msg)
    return True


def fail_blocked_recipients(batch: MessageBatch, listed: set[str]) -> int:
    """Fail, with the error code ``blocked``, the recipients the provider blocked.

    [assumed] The provider leaves the numbers it blocked (``blockedCount`` in
    its answer to the send) out of the batch's recipient list. ``listed`` is
    that complete list, read once the batch is final. The recipients it lacks
    are the blocked ones, if there are no more of them than ``blockedCount``;
    otherwise the numbers do not add up, and nothing is changed. Returns how
    many recipients changed.
    """
    phones = set(Recipient.objects.filter(batch=batch).values_list("phone", flat=True))
    missing = phones - listed
    if not missing:
        return 0
    if len(missing) > batch.blocked_count:
        logger.warning(
            "Batch %s of message %s: the provider did not list %d recipient(s) but "
            "blocked only %d; their status is left as it is",
            batch.position,
            batch.message_id,
            len(missing),
            batch.blocked_count,
        )
        return 0
    failed = Recipient.Status.FAILED
    now = timezone.now()
    with transaction.atomic():
        recipients = list(
            Recipient.objects.select_for_update()
            .filter(batch=batch, phone__in=missing, status__in=_OPEN_RECIPIENT_STATUSES)
            .only("id", "message_id", "batch_id", "phone", "status", "tx_id")
        )
        if not recipients:
            return 0
        Recipient.objects.filter(pk__in=[r.pk for r in recipients]).update(
            status=failed, error_code=BLOCKED, status_changed_at=now
        )
        delivered = failures = 0
        for recipient in recipients:
            old = recipient.status
            d, f = delivered_delta(old, failed)
            delivered, failures = delivered + d, failures + f
            recipient.status, recipient.error_code = failed, BLOCKED
            send_after_commit(
                delivery_status_changed,
                Recipient,
                recipient=recipient,
                old_status=old,
                new_status=failed,
            )
        Message.objects.filter(pk=batch.message_id).update(
            delivered_count=F("delivered_count") + delivered,
            failed_count=F("failed_count") + failures,
        )
    return len(recipients)


def sync_messages(
    messages: Iterable[Message], *, backend: BaseBackend | None = None
) -> SyncReport:
    """Sync each message; a failure on one is recorded in the report, not raised."""
    report = SyncReport()
    with backend or get_backend() as connection:
        for msg in messages:
            try:
                sync_message(msg, connection, report)
            except SepsmsError as exc:
                # The provider's message may quote a number.
                error = mask_phones_in(str(exc))
                logger.warning("Sync of message %s failed: %s", msg.pk, error)
                report.errors.append((msg.pk, error))
    return report


def open_messages() -> Iterable[Message]:
    """Messages whose status may still change, oldest first."""
    return (
        Message.objects.filter(
            Q(status__in=OPEN_STATUSES) | Q(batches__status=Message.Status.UNCONFIRMED)
        )
        .distinct()
        .order_by("created_at")
        .iterator()
    )
