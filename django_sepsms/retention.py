"""Retention (Thailand's PDPA): delete or anonymise old records in small batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Concat, Right

from .models import Message, OtpChallenge, Recipient, WebhookEvent

BATCH = 1000
ANONYMISED_TEXT = "[removed]"


@dataclass
class PurgeReport:
    messages: int = 0
    recipients: int = 0
    otp_challenges: int = 0
    webhook_events: int = 0


def purge(
    before: datetime, *, anonymise: bool = False, dry_run: bool = False, batch_size: int = BATCH
) -> PurgeReport:
    """Delete (or anonymise) messages, codes and webhooks created before ``before``.

    Works in batches of ``batch_size`` rows, each in its own transaction, so a
    purge of millions of rows never holds long locks. ``dry_run`` only counts.
    """
    report = PurgeReport()
    old_messages = Message.objects.filter(created_at__lt=before)
    old_otps = OtpChallenge.objects.filter(created_at__lt=before)
    old_events = WebhookEvent.objects.filter(received_at__lt=before)
    if anonymise:
        old_messages = old_messages.exclude(text=ANONYMISED_TEXT)
        old_otps = old_otps.exclude(phone__startswith="~")
        old_events = old_events.exclude(payload={})
    if dry_run:
        report.messages = old_messages.count()
        report.recipients = Recipient.objects.filter(message__in=old_messages).count()
        report.otp_challenges = old_otps.count()
        report.webhook_events = old_events.count()
        return report
    while ids := list(old_messages.order_by("id").values_list("id", flat=True)[:batch_size]):
        with transaction.atomic():
            recipients = Recipient.objects.filter(message_id__in=ids)
            if anonymise:
                # "~" + the row id keeps (message, phone) unique and is no number.
                report.recipients += recipients.update(
                    phone=Concat(Value("~"), Right(Concat(Value("0000000000"), "id"), 15)),
                    variables=None,
                )
                report.messages += Message.objects.filter(id__in=ids).update(
                    text=ANONYMISED_TEXT, variables=None
                )
            else:
                report.recipients += recipients.count()
                report.messages += (
                    Message.objects.filter(id__in=ids).delete()[1].get(Message._meta.label, 0)
                )
    while ids := list(old_otps.order_by("id").values_list("id", flat=True)[:batch_size]):
        otps = OtpChallenge.objects.filter(id__in=ids)
        if anonymise:
            report.otp_challenges += otps.update(phone=Concat(Value("~"), Right("phone", 2)))
        else:
            report.otp_challenges += otps.delete()[0]
    while ids := list(old_events.order_by("id").values_list("id", flat=True)[:batch_size]):
        events = WebhookEvent.objects.filter(id__in=ids)
        if anonymise:
            report.webhook_events += events.update(payload={}, msisdn="")
        else:
            report.webhook_events += events.delete()[0]
    return report
