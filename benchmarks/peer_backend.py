"""django-phone-verify's side of bench_peer.py: a backend that sends nothing."""

from __future__ import annotations

from typing import Any

from phone_verify.backends.base import BaseBackend


class SilentError(Exception):
    """Never raised: django-phone-verify catches its backend's ``exception_class``."""


class SilentBackend(BaseBackend):
    """Makes and checks codes like every django-phone-verify backend; sends no SMS."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.exception_class = SilentError

    def send_sms(self, number: str, message: str) -> None:
        """Send nothing."""

    def send_bulk_sms(self, numbers: list[str], message: str) -> None:
        """Send nothing."""
