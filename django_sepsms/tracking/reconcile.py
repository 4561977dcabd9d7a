"""Matching unconfirmed sends (no provider uuid learnt) to the reports that name them.

A send that timed out may still have reached the provider. A delivery report
for an unknown uuid whose number belongs to exactly one recent unconfirmed
batch tells what happened to it: that batch is given the uuid (adopted). The
uuid of a code the provider sent is never taken.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from ..models import Message, MessageBatch, OtpChallenge, Recipient, WebhookEvent
from .status import DR_EVENT_STATUS
from .totals import refresh_message_totals

logger = logging.getLogger("django_sepsms.webhooks")

#: How long an unconfirmed send may wait for a report that names its numbers.
_ADOPTION_WINDOW_HOURS = 48


def sole_unconfirmed_batch(uuid: str, msisdn: str) -> int | None:
    """The one recent unconfirmed batch that sent to ``msisdn``, if ``uuid`` may be its id.

    ``None`` if ``uuid`` is already some batch's, or if no batch or several qualify.
    """
    if MessageBatch.objects.filter(provider_uuid=uuid).exists():
        return None
    candidates = _unconfirmed_batches_with(msisdn)
    return candidates[0] if len(candidates) == 1 else None


def adopt(batch_pk: int, uuid: str, msisdn: str) -> bool:
    """Record ``uuid`` (reported for ``msisdn``) as the provider's id of the batch ``batch_pk``.

    The caller then applies the reports that waited for ``uuid``.
    """
    if (
        MessageBatch.objects.filter(provider_uuid=uuid).exists()
        or is_provider_code(uuid, msisdn)
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
    return True


def waiting_report_for(batch: MessageBatch) -> tuple[str, str] | None:
    """The ``(uuid, number)`` of a report still waiting for its send that names ``batch``.

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
            return report.sms_uuid, report.msisdn
    return None


def is_provider_code(uuid: str, msisdn: str) -> bool:
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
