"""A backend that writes each SMS to standard output, for development."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from .base import LocalBackend, OutgoingSms


class ConsoleBackend(LocalBackend):
    """Writes every SMS (OTP texts with their codes) to ``stream`` (stdout)."""

    def __init__(self, *, stream: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = stream
        self._lock = threading.RLock()

    def deliver(self, sms: OutgoingSms) -> None:
        stream = self.stream or sys.stdout
        with self._lock:
            for phone, text in sms.rendered():
                when = f" at {sms.scheduled_at.isoformat()}" if sms.scheduled_at else ""
                stream.write(f"SMS from {sms.origin} to {phone}{when}\n{text}\n{'-' * 40}\n")
            stream.flush()
