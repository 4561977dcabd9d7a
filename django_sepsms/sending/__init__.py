"""Sending messages: validate, record, then deliver (here or in a task worker).

:func:`send_sms` is the entry point; the names below are what the admin, the
management commands and the OTP code build on.
"""

from .deliver import (
    NOT_SENT_CODE,
    deliver_message,
    get_backend,
    get_balance,
    mark_unconfirmed_not_sent,
    refresh_message_totals,
    send_sms,
)
from .prepare import PreparedMessage, prepare_message, resolve_origin
from .record import insert_recipients, record_message

__all__ = [
    "NOT_SENT_CODE",
    "PreparedMessage",
    "deliver_message",
    "get_backend",
    "get_balance",
    "insert_recipients",
    "mark_unconfirmed_not_sent",
    "prepare_message",
    "record_message",
    "refresh_message_totals",
    "resolve_origin",
    "send_sms",
]
