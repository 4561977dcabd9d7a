"""Delivering recorded messages: every batch claimed, sent and its answer recorded."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

from django.utils import timezone

from ..backends.base import BaseBackend, OutgoingSms, SendResult
from ..backends.loading import get_backend
from ..conf import sepsms_settings
from ..exceptions import (
    AmbiguousRequestError,
    ConfigurationError,
    SepsmsError,
)
from ..models import Message, MessageBatch, Recipient
from ..signals import message_sent, send_after_commit
from ..tracking.totals import refresh_message_totals
from .outcomes import collect_answer, collect_or_requeue, fail_remaining
from .prepare import PreparedMessage

logger = logging.getLogger("django_sepsms")


def deliver_message(
    msg: Message,
    *,
    backend: BaseBackend | None = None,
    fail_silently: bool = False,
    text: str | None = None,
    progress: Callable[[int], None] | None = None,
    postpone_passing_errors: bool = False,
    recorded: PreparedMessage | None = None,
) -> Message:
    """Send every batch of ``msg`` that nobody has sent yet.

    Each batch is claimed (``queued`` → ``sending``) before its request goes
    out, so two workers never send the same batch and a re-run after a crash
    sends nothing twice. ``text`` replaces the recorded text on the wire (OTP
    messages record a redacted text). ``progress`` is called with the number
    of recipients of each batch handed over. With ``postpone_passing_errors``
    (background workers), a batch that failed only for a passing reason (no
    connection, over the provider's rate) is put back in the queue, with the
    rest, instead of being failed; after a provider's ``5xx`` that batch is
    unconfirmed and the rest wait in the queue. ``recorded``, the message just recorded
    by this process, spares reading its numbers back from the database.
    """
    backend = backend or get_backend()
    first_error: SepsmsError | None = None
    try:
        backend.open()
    except ConfigurationError as exc:
        fail_remaining(msg, exc)
        refresh_message_totals(msg)
        raise
    wire_text = text if text is not None else msg.text
    in_flight: deque[tuple[MessageBatch, Future[SendResult]]] = deque()
    concurrency = max(1, sepsms_settings.SEND_CONCURRENCY) if backend.thread_safe_sends else 1
    stop: SepsmsError | None = None  # the first refusal: no further batch is started

    def collect(item: tuple[MessageBatch, Future[SendResult]]) -> None:
        nonlocal first_error, stop
        if postpone_passing_errors:
            error = collect_or_requeue(item, progress)
            if error is not None and error.retryable:
                stop = stop or error
                return
        else:
            error = collect_answer(item, progress)
        if error is not None:
            first_error = first_error or error
            if stop is None and _stops_the_send(error):
                stop = error

    # Requests go out from a small pool while this thread, which owns the
    # database connection and its transaction, claims and records batches.
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sepsms-send")
    pending = cast(  # a generator, to be closed below
        Generator[MessageBatch, None, None],
        msg.batches.filter(status=Message.Status.QUEUED).order_by("position").iterator(),
    )

    def start_next() -> bool:
        for batch in pending:
            if _claim(batch):
                sms = _outgoing(msg, batch, wire_text, recorded)
                in_flight.append((batch, pool.submit(backend.send_message, sms)))
                return True
        return False

    try:
        while len(in_flight) < concurrency and start_next():
            pass
        while in_flight:
            item = in_flight.popleft()
            failure = item[1].exception()  # waits for the answer
            # The freed slot is refilled before this answer is recorded, so a
            # request is on the wire while the database work is done; never
            # after a refusal, which stops the send.
            try:
                if stop is None and not _stops_the_send(failure):
                    start_next()
            finally:
                collect(item)
        if stop is not None and not (postpone_passing_errors and _passing(stop)):
            fail_remaining(msg, stop)
    except BaseException:
        # The requests still in flight went out: record their answers if the
        # database lets us, or sepsms_sync finds them "sending" later.
        while in_flight:
            batch, future = in_flight.popleft()
            try:
                collect_answer((batch, future), progress)
            except Exception as exc:
                # Class only: a database's message can quote the row's number.
                logger.error(
                    "Could not record the answer for batch %s: %s", batch.pk, type(exc).__name__
                )
        raise
    finally:
        pending.close()  # its cursor, now: a traceback may keep this frame alive
        pool.shutdown(wait=True)
        backend.close()
    refresh_message_totals(msg)
    send_after_commit(message_sent, Message, message=msg, error=first_error)
    if first_error is not None and (first_error.configuration_problem or not fail_silently):
        raise first_error
    return msg


def _stops_the_send(error: BaseException | None) -> bool:
    """Whether no further batch may start after this outcome of a batch.

    Any refusal stops the send, and so does a provider answering ``5xx``:
    that batch is unconfirmed, and the next ones would only join it. A batch
    that got no answer at all does not stop the others.
    """
    if error is None:
        return False
    return not isinstance(error, AmbiguousRequestError) or _provider_failed(error)


def _passing(error: SepsmsError) -> bool:
    """Whether the batches never tried may simply wait for a later attempt."""
    return error.retryable or _provider_failed(error)


def _provider_failed(error: BaseException) -> bool:
    """An unconfirmed batch the provider answered (a ``5xx``), not one left unanswered."""
    return isinstance(error, AmbiguousRequestError) and error.status is not None


def _claim(batch: MessageBatch) -> bool:
    """Mark ``batch`` as being sent; False if someone else already did."""
    return bool(
        MessageBatch.objects.filter(pk=batch.pk, status=Message.Status.QUEUED).update(
            status=Message.Status.SENDING, sent_at=timezone.now()
        )
    )


def _outgoing(
    msg: Message, batch: MessageBatch, text: str, recorded: PreparedMessage | None
) -> OutgoingSms:
    rows: list[tuple[str, Any]]
    if recorded is not None and batch.pk in recorded.batch_phones:
        given = recorded.variables or {}
        rows = [(phone, given.get(phone)) for phone in recorded.batch_phones[batch.pk]]
    else:
        rows = list(
            Recipient.objects.filter(batch=batch).order_by("id").values_list("phone", "variables")
        )
    return OutgoingSms(
        message=text,
        recipients=[phone for phone, _ in rows],
        origin=msg.origin,
        scheduled_at=msg.scheduled_at,
        variables={phone: values for phone, values in rows if values} or None,
    )
