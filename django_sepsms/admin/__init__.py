"""The delivery log in the Django admin: read-only, searchable, fast at millions of rows.

Phone numbers are masked (``66*******78``) unless the viewer has the
``sepsms.view_full_phone`` permission: in their own columns, and wherever else
one may appear (texts, errors, webhook payloads and keys, the labels of
accounts named by their number). Codes, code hashes and API keys are never
shown at all.

Django's admin autodiscovery imports this package, whose imports register each
model's admin: the logs in ``messages`` and ``records``, phone numbers in
``phones``. Actions, columns, list helpers and the dashboard have their own modules.
"""

from .base import LogAdmin
from .messages import MessageAdmin, MessageBatchAdmin, RecipientAdmin
from .phones import PhoneNumberAdmin, PhoneNumberForm
from .records import OtpChallengeAdmin, WebhookEventAdmin

__all__ = [
    "LogAdmin",
    "MessageAdmin",
    "MessageBatchAdmin",
    "OtpChallengeAdmin",
    "PhoneNumberAdmin",
    "PhoneNumberForm",
    "RecipientAdmin",
    "WebhookEventAdmin",
]
