"""Signals sent by django-sepsms.

Every signal is sent after the database change it reports has been committed
(``pumping_suspected``, which reports none, at once), with ``send_robust``: a
failing receiver is logged and never undoes the change.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("django_sepsms")

#: A message was handed to the provider (or failed to be).
#: Sender: the ``Message`` class. Arguments: ``message`` (the ``Message``),
#: ``error`` (the exception, or ``None`` when it was accepted).
message_sent = Signal()

#: A recipient's delivery status changed (from a webhook or ``sepsms_sync``).
#: Sender: the ``Recipient`` class. Arguments: ``recipient``, ``old_status``,
#: ``new_status``.
delivery_status_changed = Signal()

#: An OTP code was sent. Sender: the ``OtpChallenge`` class. Arguments:
#: ``challenge``, ``request`` (the ``HttpRequest`` or ``None``).
otp_sent = Signal()

#: An OTP code was verified. Sender: the ``OtpChallenge`` class. Arguments:
#: ``challenge``, ``request``.
otp_verified = Signal()

#: An OTP verification failed. Sender: the ``OtpChallenge`` class (or ``None``
#: for an unknown reference). Arguments: ``challenge`` (or ``None``),
#: ``reason`` (``"wrong"``, ``"expired"``, ``"exhausted"``, ``"used"``,
#: ``"unknown"``, ``"error"``), ``request``.
otp_failed = Signal()

#: A genuine webhook was received and stored. Sender: the ``WebhookEvent``
#: class. Arguments: ``event`` (the ``WebhookEvent``), ``name`` (the event name,
#: e.g. ``"dr.success"``), ``payload`` (the parsed JSON).
webhook_received = Signal()

#: The provider reported a low credit balance (``credit.low``). Sender: the
#: ``WebhookEvent`` class. Arguments: ``balance`` (int or ``None``), ``event``.
credit_low = Signal()

#: The pumping guard suspects SMS pumping in a scope: codes are being sent that
#: nobody verifies, and sending there is tightened. Sent once per episode, when
#: it starts (the episode ends once the scope has not been suspected for a whole
#: window). Sender: ``None``. Arguments: ``scope`` (``"site"``, or the range of
#: numbers: the country code and ``PREFIX_DIGITS`` digits, e.g. ``"6681"``),
#: ``sent`` and ``verified`` (codes sent and verified in the scope over the
#: window, decoys counted as sent), ``conversion`` (``verified / sent``, a
#: float), ``window_minutes`` (the window's length), ``per_minute`` (the codes a
#: minute the scope may still send now) and ``started_at`` (an aware UTC
#: ``datetime``).
pumping_suspected = Signal()


def send_after_commit(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` after commit (at once outside a transaction).

    A receiver that raises is logged; it never breaks the caller.
    """
    if not signal.has_listeners(sender):
        return
    transaction.on_commit(lambda: send_now(signal, sender, **kwargs))


def send_now(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` at once, for what no database change records (an episode of
    :data:`pumping_suspected`); a receiver that raises is logged, as above."""
    if not signal.has_listeners(sender):
        return
    for receiver, result in signal.send_robust(sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "Receiver %r of a django-sepsms signal failed",
                receiver,
                exc_info=(type(result), result, result.__traceback__),
            )
