"""The entry points of sending: :func:`send_sms` and :func:`get_balance`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ..backends.base import BaseBackend
from ..backends.loading import get_backend
from ..conf import sepsms_settings
from ..models import Message
from ..phone import PhoneInput
from .deliver import deliver_message
from .prepare import prepare_message
from .record import record_message


def send_sms(
    message: str,
    recipients: PhoneInput | Iterable[PhoneInput],
    *,
    origin: str | None = None,
    scheduled_at: datetime | None = None,
    variables: Mapping[str, Mapping[str, Any]] | None = None,
    fail_silently: bool = False,
    backend: BaseBackend | None = None,
) -> Message:
    """Record a message for ``recipients`` and send it.

    Every number is checked first: if any is invalid, a ``ValidationError``
    naming each bad one is raised and nothing is recorded or sent. The message
    and its recipients are then saved, sent in ``BATCH_SIZE`` requests, and
    the provider's answer is stored on them. A provider failure is recorded on the rows and raised,
    unless ``fail_silently``; errors of this site's setup (settings, a refused
    API key, a missing scope or IP) are always raised.
    """
    prepared = prepare_message(
        message, recipients, origin=origin, scheduled_at=scheduled_at, variables=variables
    )
    msg = record_message(prepared)
    if sepsms_settings.USE_TASKS and backend is None:
        from .tasks import enqueue_delivery  # needs the optional task framework

        enqueue_delivery(msg)
        return msg
    deliver_message(msg, backend=backend, fail_silently=fail_silently, recorded=prepared)
    return msg


def get_balance(*, backend: BaseBackend | None = None) -> int:
    """The account's remaining credits, asked of the backend."""
    with backend or get_backend() as connection:
        return connection.get_balance()
