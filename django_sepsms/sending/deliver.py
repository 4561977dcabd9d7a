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
from ..tracking.events import apply_waiting_events
from ..tracking.totals import refresh_message_totals, settle_sole_batch
from .outcomes import collect_answer, collect_or_requeue, fail_remaining, record_batch_error
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
    try:
        backend.open()
    except ConfigurationError as exc:
        for batch in recorded.batches if recorded is not None else ():
            if batch.status == Message.Status.SENDING:  # claimed when recorded, never sent
                record_batch_error(batch, exc)
        fail_remaining(msg, exc)
        refresh_message_totals(msg)
        raise
    run = _Delivery(msg, backend, text, progress, postpone_passing_errors, recorded)
    try:
        run.send_all()
    finally:
        run.close()
        backend.close()
    _sum_up(msg, run.answered)
    send_after_commit(message_sent, Message, message=msg, error=run.first_error)
    error = run.first_error
    if error is not None and (error.configuration_problem or not fail_silently):
        raise error
    return msg


def _sum_up(msg: Message, answered: tuple[MessageBatch, int] | None) -> None:
    """The message's totals: from the answer of its only batch, or from its rows."""
    if answered is not None:
        if settle_sole_batch(msg, *answered):
            return
        # Reports came before the answer and wait for its uuid.
        apply_waiting_events(answered[0].provider_uuid or "")
    refresh_message_totals(msg)


class _Delivery:
    """One run of :func:`deliver_message`: the batches in flight and what stopped them.

    Requests go out from a small pool while the calling thread, which owns the
    database connection and its transaction, claims and records batches. The
    batches this process has just recorded are not looked up again, and the
    only batch of such a message is sent from the calling thread, with no pool.
    """

    def __init__(
        self,
        msg: Message,
        backend: BaseBackend,
        text: str | None,
        progress: Callable[[int], None] | None,
        postpone_passing_errors: bool,
        recorded: PreparedMessage | None,
    ) -> None:
        self.msg = msg
        self.backend = backend
        self.wire_text = text if text is not None else msg.text
        self.progress = progress
        self.postpone_passing_errors = postpone_passing_errors
        self.recorded = recorded
        self.in_flight: deque[tuple[MessageBatch, Future[SendResult]]] = deque()
        #: The first error of any batch: raised at the end unless ``fail_silently``.
        self.first_error: SepsmsError | None = None
        #: The first refusal: no further batch is started.
        self.stop: SepsmsError | None = None
        #: The only batch, accepted, and how many of its recipients that delivered.
        self.answered: tuple[MessageBatch, int] | None = None
        batches = recorded.batches if recorded is not None else None
        #: The message has one batch, just recorded here: it is sent from this thread.
        self.inline = batches is not None and len(batches) == 1
        self.concurrency = (
            max(1, sepsms_settings.SEND_CONCURRENCY)
            if backend.thread_safe_sends and not self.inline
            else 1
        )
        self.pool = (
            None
            if self.inline
            else ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="sepsms-send")
        )
        self.pending: Generator[MessageBatch, None, None]  # closed by close()
        if batches is not None:  # queued or claimed: claiming them checks that they still are
            self.pending = (batch for batch in batches)
        else:
            self.pending = cast(
                Generator[MessageBatch, None, None],
                msg.batches.filter(status=Message.Status.QUEUED).order_by("position").iterator(),
            )

    def send_all(self) -> None:
        try:
            while len(self.in_flight) < self.concurrency and self.start_next():
                pass
            while self.in_flight:
                item = self.in_flight.popleft()
                failure = item[1].exception()  # waits for the answer
                # The freed slot is refilled before this answer is recorded, so a
                # request is on the wire while the database work is done; never
                # after a refusal, which stops the send.
                try:
                    if self.stop is None and not _stops_the_send(failure):
                        self.start_next()
                finally:
                    self.collect(item)
            stop = self.stop
            if stop is not None and not (self.postpone_passing_errors and _passing(stop)):
                fail_remaining(self.msg, stop)
        except BaseException:
            self.record_in_flight()
            raise

    def start_next(self) -> bool:
        for batch in self.pending:
            # A batch recorded as claimed (record_message(claimed=True)) is this run's.
            if batch.status == Message.Status.SENDING or _claim(batch):
                sms = _outgoing(self.msg, batch, self.wire_text, self.recorded)
                self.in_flight.append((batch, self.submit(sms)))
                return True
        return False

    def submit(self, sms: OutgoingSms) -> Future[SendResult]:
        if self.pool is not None:
            return self.pool.submit(self.backend.send_message, sms)
        return _answered_here(self.backend.send_message, sms)

    def collect(self, item: tuple[MessageBatch, Future[SendResult]]) -> None:
        if self.postpone_passing_errors:
            error = collect_or_requeue(item, self.progress)
            if error is not None and error.retryable:
                self.stop = self.stop or error
                return
        else:
            error = collect_answer(item, self.progress, apply_waiting=not self.inline)
            if error is None and self.inline:
                batch, answer = item
                self.answered = (batch, batch.recipient_count if answer.result().delivered else 0)
        if error is not None:
            self.first_error = self.first_error or error
            if self.stop is None and _stops_the_send(error):
                self.stop = error

    def record_in_flight(self) -> None:
        """After a crash: the requests still in flight went out, so record their
        answers if the database lets us (or ``sepsms_sync`` finds them "sending" later)."""
        while self.in_flight:
            batch, future = self.in_flight.popleft()
            try:
                collect_answer((batch, future), self.progress)
            except Exception as exc:
                # Class only: a database's message can quote the row's number.
                logger.error(
                    "Could not record the answer for batch %s: %s", batch.pk, type(exc).__name__
                )

    def close(self) -> None:
        self.pending.close()  # its cursor, now: a traceback may keep a frame alive
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _answered_here(
    send: Callable[[OutgoingSms], SendResult], sms: OutgoingSms
) -> Future[SendResult]:
    """The answer to a request made from this thread, handed over as the pool hands them."""
    answer: Future[SendResult] = Future()
    try:
        answer.set_result(send(sms))
    except Exception as exc:  # recorded like a pool's: see collect_answer
        answer.set_exception(exc)
    return answer


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
