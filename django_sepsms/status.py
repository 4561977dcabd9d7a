"""Status precedence: a status only ever moves forward.

Webhooks and status polls can arrive twice and in any order. Each status has a
rank, and a row only takes a new status of a higher rank, so whatever order
the same reports arrive in, a row ends at the highest-ranked one. Terminal
statuses sit at the top; ``success`` outranks every failure so that a late
failure report never undoes a delivery.
"""

from __future__ import annotations

from .models import Message, Recipient

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
    from .models import FAILED_RECIPIENT_STATUSES

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
        return min(accepted, key=lambda s: MESSAGE_RANK.get(s, 0))
    if M.UNCONFIRMED in batch_statuses:
        return M.UNCONFIRMED
    return M.FAILED
