"""Sending messages: validate, record, then deliver (here or in a task worker).

:func:`send_sms` is the entry point; the names below are what the admin, the
management commands and the OTP code build on.
"""

from ..backends.loading import get_backend
from .bulk import BulkReport, asend_bulk, send_bulk
from .deliver import deliver_message
from .outcomes import NOT_SENT_CODE, mark_unconfirmed_not_sent
from .prepare import PreparedMessage, prepare_message, resolve_origin
from .record import insert_recipients, record_message
from .send import aget_balance, asend_sms, get_balance, send_sms

__all__ = [
    "NOT_SENT_CODE",
    "BulkReport",
    "PreparedMessage",
    "aget_balance",
    "asend_bulk",
    "asend_sms",
    "deliver_message",
    "get_backend",
    "get_balance",
    "insert_recipients",
    "mark_unconfirmed_not_sent",
    "prepare_message",
    "record_message",
    "resolve_origin",
    "send_bulk",
    "send_sms",
]
