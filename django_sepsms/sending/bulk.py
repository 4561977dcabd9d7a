"""Campaigns: one text to a great many numbers, streamed, resumable.

:func:`send_bulk` reads the recipients from any iterable (a generator, a CSV
reader, a queryset's ``values_list``), a batch at a time, so memory stays flat
whatever the size. Give the campaign a ``key`` and a re-run after a crash finds
the same message, skips the numbers already recorded and sends only the batches
nobody sent: nothing twice.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import sepsms_settings
from ..contract import render_variables
from ..models import Message, MessageBatch, Recipient
from ..phone import phone_normalizer, phone_text
from ..segments import count_segments
from .deliver import deliver_message
from .prepare import resolve_origin
from .record import insert_recipients

logger = logging.getLogger("django_sepsms")

#: What an item of ``recipients`` may be: a number (text or a
#: ``phonenumbers.PhoneNumber``), or a number and its variables.
RecipientItem = (
    str | phonenumbers.PhoneNumber | tuple[object, Mapping[str, Any]] | Mapping[str, Any]
)


@dataclass
class BulkReport:
    """What :func:`send_bulk` did."""

    message: Message
    recorded: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: Refusals beyond this many are counted, not kept.
    refused_count: int = 0

    MAX_KEPT = 1000


def _split(item: RecipientItem) -> tuple[str, dict[str, Any] | None]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, phonenumbers.PhoneNumber):
        return phone_text(item), None
    if isinstance(item, tuple):
        phone, values = item
        return phone_text(phone), dict(values) if values else None
    values = {k: v for k, v in item.items() if k != "phone"}
    return phone_text(item.get("phone", "")), values or None


def send_bulk(
    message: str,
    recipients: Iterable[RecipientItem],
    *,
    origin: str | None = None,
    scheduled_at: datetime | None = None,
    key: str | None = None,
    deliver: bool = True,
    progress: Callable[[int], None] | None = None,
) -> BulkReport:
    """Record a campaign in ``BATCH_SIZE`` chunks, then send it (or queue it).

    Items are numbers (text or ``phonenumbers.PhoneNumber``, as
    django-phonenumber-field's ``PhoneNumberField`` gives), ``(number,
    variables)`` pairs or mappings with a ``"phone"`` key (the other keys are
    the variables). Invalid numbers are
    refused with their reason and the rest goes out. With ``USE_TASKS`` the
    delivery is queued for the workers; otherwise it happens here.

    A provider failure while sending is recorded on the batches and their
    recipients, not raised (as with ``send_sms(..., fail_silently=True)``), so
    the report is never lost: read the outcome from ``report.message``.
    Configuration errors are raised. ``scheduled_at`` must be timezone-aware.
    """
    text = str(message or "")
    if not text.strip():
        raise ValidationError(_("The message is empty."), code="empty_message")
    if scheduled_at is not None and timezone.is_naive(scheduled_at):
        raise ValidationError(
            _("The scheduled time must include a time zone."), code="naive_datetime"
        )
    origin = resolve_origin(origin)
    msg = _campaign_message(text, origin, scheduled_at, key)
    report = BulkReport(message=msg)
    size = max(1, sepsms_settings.BATCH_SIZE)
    normalize = phone_normalizer()
    items = iter(recipients)
    while chunk := list(itertools.islice(items, size)):
        phones: dict[str, None] = {}  # in order, each once
        variables: dict[str, dict[str, Any]] = {}
        for item in chunk:
            raw, values = _split(item)
            try:
                phone = normalize(raw)
            except ValidationError as exc:
                report.refused_count += 1
                if len(report.refused) < BulkReport.MAX_KEPT:
                    report.refused.append((raw[:32], " ".join(exc.messages)))
                continue
            if phone in phones:
                continue
            phones[phone] = None
            if values:
                variables[phone] = values
        report.recorded += _record_chunk(msg, list(phones), variables)
    msg.refresh_from_db()
    if deliver:
        if sepsms_settings.USE_TASKS:
            from .tasks import enqueue_delivery  # needs the optional task framework

            enqueue_delivery(msg)
        else:
            deliver_message(msg, fail_silently=True, progress=progress)
    return report


def _campaign_message(
    text: str, origin: str, scheduled_at: datetime | None, key: str | None
) -> Message:
    if key:
        msg, created = Message.objects.get_or_create(
            campaign_key=key,
            defaults={"origin": origin, "text": text, "scheduled_at": scheduled_at},
        )
        if not created and (msg.text != text or msg.origin != origin):
            raise ValidationError(
                "Campaign %(key)s already exists with another text or sender.",
                code="campaign_mismatch",
                params={"key": key},
            )
        return msg
    return Message.objects.create(origin=origin, text=text, scheduled_at=scheduled_at)


def _record_chunk(msg: Message, phones: list[str], variables: dict[str, dict[str, Any]]) -> int:
    """Record one chunk as one batch; numbers already in the campaign are skipped."""
    if not phones:
        return 0
    with transaction.atomic():
        existing = set(
            Recipient.objects.filter(message=msg, phone__in=phones).values_list("phone", flat=True)
        )
        fresh = [p for p in phones if p not in existing]
        if not fresh:
            return 0
        position = (
            MessageBatch.objects.filter(message=msg)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
        )
        batch = MessageBatch.objects.create(
            message=msg,
            position=0 if position is None else position + 1,
            recipient_count=len(fresh),
        )
        insert_recipients(msg, batch, fresh, variables)
        credits = (
            sum(count_segments(_render(msg.text, variables.get(p))) for p in fresh)
            if variables
            else count_segments(msg.text) * len(fresh)
        )
        Message.objects.filter(pk=msg.pk).update(
            recipient_count=F("recipient_count") + len(fresh),
            estimated_credit=F("estimated_credit") + credits,
        )
    return len(fresh)


def _render(text: str, values: dict[str, Any] | None) -> str:
    return render_variables(text, values)
