"""A message's totals (status, credits, counts, first error), derived from its own rows."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    Field,
    Min,
    OuterRef,
    PositiveIntegerField,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import FAILED_RECIPIENT_STATUSES, Message, MessageBatch, Recipient
from .status import lock_message, message_status_expression


def refresh_message_totals(msg: Message) -> None:
    """Derive the message's status, credits, counts and error from its rows.

    The message row is locked first, then everything is computed from its
    batches and recipients inside one ``UPDATE``: a report committed meanwhile
    is either in what that statement reads or added by its own transaction
    after it (both take the same lock), never overwritten by an older sum.
    """
    with transaction.atomic():
        lock_message(msg.pk)
        Message.objects.filter(pk=msg.pk).update(**_totals(), updated_at=timezone.now())
        msg.refresh_from_db(fields=_TOTAL_FIELDS)


#: The fields :func:`refresh_message_totals` derives.
_TOTAL_FIELDS = [
    "status",
    "total_credit",
    "blocked_count",
    "error_code",
    "error_message",
    "sent_at",
    "delivered_count",
    "failed_count",
    "updated_at",
]


def _totals() -> dict[str, Any]:
    """The derived fields of a message, as expressions over its own rows."""
    batches = MessageBatch.objects.filter(message=OuterRef("pk")).order_by()
    recipients = Recipient.objects.filter(message=OuterRef("pk")).order_by()

    def total(rows: QuerySet[Any], value: Any, field: Field[Any, Any]) -> Subquery:
        return Subquery(rows.values("message").annotate(value=value).values("value"), field)

    first_error = batches.exclude(error_code="").order_by("position")
    return {
        "status": message_status_expression(batches),
        "error_code": Coalesce(Subquery(first_error.values("error_code")[:1]), Value("")),
        "error_message": Coalesce(Subquery(first_error.values("error_message")[:1]), Value("")),
        "total_credit": total(batches, Sum("total_credit"), PositiveIntegerField()),
        "blocked_count": Coalesce(
            total(batches, Sum("blocked_count"), PositiveIntegerField()), Value(0)
        ),
        "sent_at": total(batches, Min("sent_at"), DateTimeField()),
        "delivered_count": Coalesce(
            total(
                recipients,
                Count("id", filter=Q(status=Recipient.Status.SUCCESS)),
                PositiveIntegerField(),
            ),
            Value(0),
        ),
        "failed_count": Coalesce(
            total(
                recipients,
                Count("id", filter=Q(status__in=FAILED_RECIPIENT_STATUSES)),
                PositiveIntegerField(),
            ),
            Value(0),
        ),
    }
