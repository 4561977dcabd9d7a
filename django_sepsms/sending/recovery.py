"""Recovering sends that a dead process left behind: abandoned, stalled or past their time."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ..conf import sepsms_settings
from ..models import Message, MessageBatch, Recipient
from ..tracking.totals import refresh_message_totals
from .deliver import deliver_message

logger = logging.getLogger("django_sepsms")


#: The error code of a batch of a scheduled message that stalled until its time had passed.
SCHEDULE_MISSED = "schedule.missed"


def recover_abandoned_batches(older_than: timedelta = timedelta(minutes=10)) -> int:
    """Mark batches stuck in ``sending`` (their process died mid-request) unconfirmed.

    Such a request may or may not have reached the provider, so it is never
    sent again; its recipients become ``unconfirmed`` like any ambiguous send.
    Returns how many batches were recovered.
    """
    cutoff = timezone.now() - older_than
    recovered = 0
    stale = MessageBatch.objects.filter(status=Message.Status.SENDING, sent_at__lt=cutoff)
    for batch in stale.select_related("message"):
        with transaction.atomic():
            updated = MessageBatch.objects.filter(
                pk=batch.pk, status=Message.Status.SENDING
            ).update(status=Message.Status.UNCONFIRMED, error_code="sending.abandoned")
            if not updated:
                continue
            Recipient.objects.filter(batch=batch, status=Recipient.Status.QUEUED).update(
                status=Recipient.Status.UNCONFIRMED, status_changed_at=timezone.now()
            )
            refresh_message_totals(batch.message)
        recovered += 1
    return recovered


def _stalled(older_than: timedelta) -> QuerySet[Message]:
    """Messages recorded before ``older_than`` ago that still have unclaimed batches,
    and where nothing moved since: no batch recorded, claimed or answered lately
    (a worker may still be going through a large campaign)."""
    cutoff = timezone.now() - older_than
    recent = MessageBatch.objects.filter(message=OuterRef("pk")).filter(
        Q(created_at__gte=cutoff) | Q(sent_at__gte=cutoff)
    )
    return (
        Message.objects.filter(batches__status=Message.Status.QUEUED, created_at__lt=cutoff)
        .exclude(Exists(recent))
        .distinct()
    )


def fail_missed_schedules(older_than: timedelta = timedelta(minutes=10)) -> int:
    """Fail the stalled batches of scheduled messages whose time has passed.

    A scheduled message goes to the provider at once, with its time, and the
    provider sends it then. If its delivery stalled until after that time, it
    is not sent late: its unclaimed batches and their recipients become
    ``failed`` with the error code ``schedule.missed`` (resend them from the
    admin if they are still wanted). Returns how many messages were affected.
    """
    now = timezone.now()
    missed = _stalled(older_than).filter(scheduled_at__lte=now).order_by("id")
    count = 0
    for msg in missed.iterator():
        failed = 0
        queued = MessageBatch.objects.filter(message=msg, status=Message.Status.QUEUED)
        for batch_id in list(queued.values_list("id", flat=True)):
            with transaction.atomic():
                # Only if nobody claimed it meanwhile.
                if not MessageBatch.objects.filter(
                    pk=batch_id, status=Message.Status.QUEUED
                ).update(
                    status=Message.Status.FAILED,
                    error_code=SCHEDULE_MISSED,
                    error_message="Its delivery stalled until after its scheduled time.",
                ):
                    continue
                Recipient.objects.filter(batch_id=batch_id).update(
                    status=Recipient.Status.FAILED,
                    error_code=SCHEDULE_MISSED,
                    status_changed_at=now,
                )
            failed += 1
        if failed:
            refresh_message_totals(msg)
            logger.warning("Message %s stalled past its scheduled time: not sent", msg.pk)
            count += 1
    return count


def resume_stalled_messages(older_than: timedelta = timedelta(minutes=10)) -> int:
    """Send again the batches of messages whose delivery stopped (a killed worker).

    Only batches nobody claimed (``queued``) are sent, so nothing goes out
    twice. A scheduled message is resumed only while its time is still ahead
    (it goes to the provider with that time, as the first attempt did); see
    :func:`fail_missed_schedules` for the others. With ``USE_TASKS`` a new
    task is queued; otherwise they are sent here. Returns how many messages
    were resumed.
    """
    stalled = (
        _stalled(older_than)
        .filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__gt=timezone.now()))
        .order_by("id")
    )
    resumed = 0
    for msg in stalled.iterator():
        if sepsms_settings.USE_TASKS:
            from .tasks import enqueue_delivery  # needs the optional task framework

            enqueue_delivery(msg)
        else:
            deliver_message(msg, fail_silently=True)
        resumed += 1
    return resumed
