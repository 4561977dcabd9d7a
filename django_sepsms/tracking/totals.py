"""A message's totals (status, credits, counts, first error), derived from its own rows."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    Field,
    Min,
    OuterRef,
    PositiveIntegerField,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import FAILED_RECIPIENT_STATUSES, Message, MessageBatch, Recipient, WebhookEvent
from ..telemetry import hooks as telemetry
from .status import (
    lock_message,
    message_status_expression,
    message_status_from,
    message_statuses_below,
)


def refresh_message_totals(msg: Message) -> None:
    """Derive the message's status, credits, counts and error from its rows.

    The message row is locked first, then everything is computed from its
    batches and recipients inside one ``UPDATE``: a report committed meanwhile
    is either in what that statement reads or added by its own transaction
    after it (both take the same lock), never overwritten by an older sum.
    """
    before = msg.status
    with transaction.atomic():
        lock_message(msg.pk)
        Message.objects.filter(pk=msg.pk).update(**_totals(), updated_at=timezone.now())
        msg.refresh_from_db(fields=_TOTAL_FIELDS)
    if msg.status != before:
        telemetry.messages_reached(msg.status)


def settle_sole_batch(msg: Message, batch: MessageBatch, delivered: int) -> bool:
    """The totals of a message of one batch, from that batch's answer just recorded.

    Only for a message this process recorded and sent now: ``batch`` holds the
    answer as :func:`~django_sepsms.sending.outcomes.record_batch_result` wrote
    it, and ``delivered`` recipients moved to ``success`` with it. One ``UPDATE``,
    with no subquery and nothing read back: the status only moves forward and
    the delivered count grows by ``delivered``, so a report applied meanwhile
    (after the batch's uuid was committed) is neither undone nor counted twice.

    Changes nothing and returns False when reports wait for the batch's uuid
    (an indexed ``EXISTS`` in the same statement): apply them, then
    :func:`refresh_message_totals`.
    """
    status = message_status_from({batch.status})
    replaced = {Message.Status.QUEUED, Message.Status.SENDING, *message_statuses_below(status)}
    waiting = WebhookEvent.objects.filter(
        outcome=WebhookEvent.Outcome.WAITING, sms_uuid=batch.provider_uuid
    )
    now = timezone.now()
    settled = (
        Message.objects.filter(pk=msg.pk)
        .exclude(Exists(waiting))
        .update(
            status=Case(
                When(status__in=sorted(replaced - {status}), then=Value(status)),
                default=F("status"),
            ),
            total_credit=batch.total_credit,
            blocked_count=batch.blocked_count,
            sent_at=batch.sent_at,
            delivered_count=F("delivered_count") + delivered,
            updated_at=now,
        )
    )
    if not settled:
        return False
    if msg.status != status and msg.status in replaced:
        telemetry.messages_reached(status)
    msg.status, msg.sent_at, msg.updated_at = status, batch.sent_at, now
    msg.total_credit, msg.blocked_count = batch.total_credit, batch.blocked_count
    msg.delivered_count += delivered
    return True


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
