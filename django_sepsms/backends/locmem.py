"""A backend that keeps messages in ``django_sepsms.outbox``, for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import django_sepsms

from .base import LocalBackend, OutgoingSms


@dataclass
class OutboxMessage:
    """One SMS as it would have reached its recipients.

    Messages with per-recipient variables appear once per recipient, each with
    its own final text.
    """

    recipients: list[str]
    message: str
    origin: str
    scheduled_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LocmemBackend(LocalBackend):
    """Appends each SMS to ``django_sepsms.outbox`` (a list)."""

    def deliver(self, sms: OutgoingSms) -> None:
        outbox: list[OutboxMessage] = django_sepsms.outbox
        if sms.variables:
            for phone, text in sms.rendered():
                outbox.append(OutboxMessage([phone], text, sms.origin, sms.scheduled_at))
        else:
            outbox.append(
                OutboxMessage(list(sms.recipients), sms.message, sms.origin, sms.scheduled_at)
            )
