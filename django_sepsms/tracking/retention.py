"""Retention (Thailand's PDPA): delete or anonymise old records in small batches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.db.models import Value
from django.db.models.functions import Concat, Right

from ..models import Message, MessageBatch, OtpChallenge, Recipient, WebhookEvent
from ..phone import mask_phones_in

BATCH = 1000
ANONYMISED_TEXT = "[removed]"
#: Anonymised numbers and webhook keys start with this: no number does.
ANONYMISED_MARK = "~"


def _row_mark() -> Any:
    """``~`` and the row id, zero-padded: unique per row, and no number."""
    return Concat(Value(ANONYMISED_MARK), Right(Concat(Value("0000000000"), "id"), 15))


def _mask_texts(model: type[models.Model], ids: Iterable[int], field: str) -> None:
    """Mask the numbers an error text may quote (a provider's message may)."""
    rows = model._default_manager.filter(id__in=ids).exclude(**{field: ""})
    for pk, text in rows.values_list("id", field):
        masked = mask_phones_in(text)
        if masked != text:
            model._default_manager.filter(id=pk).update(**{field: masked})


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
        old_otps = old_otps.exclude(phone__startswith=ANONYMISED_MARK)
        old_events = old_events.exclude(dedupe_key__startswith=ANONYMISED_MARK)
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
                report.recipients += recipients.update(phone=_row_mark(), variables=None)
                report.messages += Message.objects.filter(id__in=ids).update(
                    text=ANONYMISED_TEXT, variables=None
                )
                _mask_texts(Message, ids, "error_message")
                batches = MessageBatch.objects.filter(message_id__in=ids)
                _mask_texts(MessageBatch, batches.values_list("id", flat=True), "error_message")
            else:
                report.recipients += recipients.count()
                report.messages += (
                    Message.objects.filter(id__in=ids).delete()[1].get(Message._meta.label, 0)
                )
    while ids := list(old_otps.order_by("id").values_list("id", flat=True)[:batch_size]):
        otps = OtpChallenge.objects.filter(id__in=ids)
        if anonymise:
            # The code hash was made with the number, and the account leads to it.
            report.otp_challenges += otps.update(
                phone=Concat(Value(ANONYMISED_MARK), Right("phone", 2)), code_hash="", user=None
            )
        else:
            report.otp_challenges += otps.delete()[0]
    while ids := list(old_events.order_by("id").values_list("id", flat=True)[:batch_size]):
        events = WebhookEvent.objects.filter(id__in=ids)
        if anonymise:
            # A report's key is made from its number (if only as a digest).
            with transaction.atomic():
                report.webhook_events += events.update(
                    payload={}, msisdn="", dedupe_key=_row_mark()
                )
                _mask_texts(WebhookEvent, ids, "error")
        else:
            report.webhook_events += events.delete()[0]
    return report
