"""Status precedence: a status only ever moves forward.

Webhooks and status polls can arrive twice and in any order. Each status has a
rank, and a row only takes a new status of a higher rank, so whatever order
the same reports arrive in, a row ends at the highest-ranked one. Terminal
statuses sit at the top; ``success`` outranks every failure so that a late
failure report never undoes a delivery.
"""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Case,
    CharField,
    Exists,
    IntegerField,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from ..models import FAILED_RECIPIENT_STATUSES, Message, MessageBatch, Recipient

R = Recipient.Status
#: Recipient delivery status → rank.
RECIPIENT_RANK: dict[str, int] = {
    R.QUEUED: 0,
    R.UNCONFIRMED: 0,
    R.PENDING: 1,
    R.SENT: 2,
    R.EXPIRED: 3,
    R.FAILED: 4,
    R.REFUNDED: 5,
    R.SUCCESS: 6,
}
RECIPIENT_TERMINAL = frozenset({R.SUCCESS, R.FAILED, R.EXPIRED, R.REFUNDED})

M = Message.Status
#: Message status → rank.
MESSAGE_RANK: dict[str, int] = {
    M.QUEUED: 0,
    M.SENDING: 0,
    M.UNCONFIRMED: 0,
    M.PENDING: 1,
    M.SCHEDULED: 2,
    M.PROCESSING: 3,
    M.FAILED: 4,
    M.CANCELLED: 5,
    M.COMPLETED: 6,
}
#: Message statuses from the least advanced to the most (ties in rank in a fixed order).
_MESSAGE_ORDER: dict[str, int] = {s: i for i, s in enumerate(MESSAGE_RANK)}

#: Provider ``drStatus`` / ``status`` values → our recipient statuses.
PROVIDER_DELIVERY_STATUS: dict[str, str] = {
    "pending": R.PENDING,
    "sent": R.SENT,
    "success": R.SUCCESS,
    "delivered": R.SUCCESS,
    "failed": R.FAILED,
    "expired": R.EXPIRED,
    "refunded": R.REFUNDED,
}

#: ``sms.*`` events → the message status they report.
SMS_EVENT_STATUS = {
    "sms.sent": M.PROCESSING,
    "sms.completed": M.COMPLETED,
    "sms.failed": M.FAILED,
}

#: ``sms.*`` events → the ``status`` values their bodies may carry.
SMS_EVENT_BODY_STATUSES = {
    "sms.sent": {"processing", "sent", "pending"},
    "sms.completed": {"completed"},
    "sms.failed": {"failed"},
}

#: ``dr.*`` events → the delivery status they report.
DR_EVENT_STATUS = {"dr.success": "success", "dr.failed": "failed"}

#: ``dr.*`` events → the recipient statuses their bodies' ``status`` may map to.
DR_EVENT_RECIPIENT_STATUSES: dict[str, frozenset[str]] = {
    "dr.success": frozenset({R.SUCCESS}),
    "dr.failed": frozenset(FAILED_RECIPIENT_STATUSES),
}


def recipient_statuses_below(status: str) -> list[str]:
    """Statuses a recipient may leave for ``status``."""
    rank = RECIPIENT_RANK[status]
    return [s for s, r in RECIPIENT_RANK.items() if r < rank]


def message_statuses_below(status: str) -> list[str]:
    """Statuses a message (or batch) may leave for ``status``."""
    rank = MESSAGE_RANK[status]
    return [s for s, r in MESSAGE_RANK.items() if r < rank]


def delivered_delta(old: str, new: str) -> tuple[int, int]:
    """How ``(delivered_count, failed_count)`` change when a recipient moves."""

    def counts(status: str) -> tuple[int, int]:
        return int(status == R.SUCCESS), int(status in FAILED_RECIPIENT_STATUSES)

    (d_old, f_old), (d_new, f_new) = counts(old), counts(new)
    return d_new - d_old, f_new - f_old


def message_status_from(batch_statuses: set[str]) -> str:
    """A message's status from its batches' statuses.

    Batches the provider accepted decide it: the least advanced of them. Only
    when none was accepted is the message unconfirmed (some timed out) or failed.
    """
    accepted = batch_statuses - {M.FAILED, M.UNCONFIRMED}
    if accepted:
        return min(accepted, key=lambda s: _MESSAGE_ORDER.get(s, 0))
    if M.UNCONFIRMED in batch_statuses:
        return M.UNCONFIRMED
    return M.FAILED


def message_status_expression(batches: QuerySet[MessageBatch]) -> Coalesce:
    """:func:`message_status_from` as an SQL expression over a message's ``batches``.

    ``batches`` is filtered on ``OuterRef("pk")``, so the expression can be
    the value of an ``UPDATE`` of the messages.
    """
    order = Case(
        *(When(status=s, then=Value(i)) for s, i in _MESSAGE_ORDER.items()),
        default=Value(0),
        output_field=IntegerField(),
    )
    least_advanced = (
        batches.exclude(status__in=[M.FAILED, M.UNCONFIRMED])
        .annotate(status_order=order)
        .order_by("status_order")
        .values("status")[:1]
    )
    unaccepted = Case(
        When(Exists(batches.filter(status=M.UNCONFIRMED)), then=Value(M.UNCONFIRMED.value)),
        default=Value(M.FAILED.value),
    )
    return Coalesce(Subquery(least_advanced), unaccepted, output_field=CharField())


def lock_message(message_id: Any) -> None:
    """Lock the message row until the end of the current transaction.

    Whatever derives a message's status or counts from its batches and
    recipients takes this lock *before* it reads them, after locking the batch
    or recipient rows it changes itself (the order every report follows), so
    that the last one to take it reads every change committed before. On
    SQLite, which serialises writers anyway, it does nothing.
    """
    list(Message.objects.select_for_update().filter(pk=message_id).values_list("pk"))
