"""Send a signal once the current transaction has committed, robustly."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("django_sepsms")


def send_after_commit(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` after commit (at once outside a transaction).

    A receiver that raises is logged; it never breaks the caller.
    """
    if not signal.has_listeners(sender):
        return

    def _send() -> None:
        for receiver, result in signal.send_robust(sender, **kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "Receiver %r of a django-sepsms signal failed",
                    receiver,
                    exc_info=(type(result), result, result.__traceback__),
                )

    transaction.on_commit(_send)
