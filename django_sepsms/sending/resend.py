"""Sending a message again to the recipients it failed to reach."""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import SepsmsError
from ..models import FAILED_RECIPIENT_STATUSES, Message
from .deliver import deliver_message
from .prepare import prepare_message
from .record import record_message


@dataclass(frozen=True)
class Resent:
    """A message sent again: the new message, and the error its delivery met, if any."""

    message: Message
    error: SepsmsError | None = None


def resend_to_failed(original: Message) -> Resent | None:
    """Send ``original`` again, as a new message, to each recipient it failed to reach.

    The new message has the same text and sender name, one recipient per failed
    number (in the original's order), each number's own variables (campaigns keep
    them on its recipient row; sends, on the message too), and names ``original``
    in ``resent_from``. It is recorded, then delivered here and now; an error of
    that delivery (recorded on the new rows, as for any send) is returned, not raised.
    Returns ``None``, sending nothing, when no recipient failed or ``original``
    is a one-time code (its text is recorded redacted).
    """
    if original.kind != Message.Kind.SMS:
        return None
    failed = list(
        original.recipients.filter(status__in=FAILED_RECIPIENT_STATUSES)
        .order_by("id")
        .values_list("phone", "variables")
    )
    if not failed:
        return None
    given = original.variables or {}
    variables = {
        phone: own if own is not None else given[phone]
        for phone, own in failed
        if own is not None or phone in given
    }
    prepared = prepare_message(
        original.text,
        [phone for phone, _ in failed],
        origin=original.origin,
        variables=variables or None,
    )
    copy = record_message(prepared, resent_from=original)
    try:
        deliver_message(copy)
    except SepsmsError as exc:
        return Resent(copy, exc)
    return Resent(copy)
