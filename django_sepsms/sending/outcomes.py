"""Recording what each batch's request came to: accepted, refused, unconfirmed or never tried."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future

from django.db import transaction
from django.utils import timezone

from ..backends.base import SendResult
from ..exceptions import (
    AmbiguousRequestError,
    SepsmsError,
    error_code_of,
)
from ..models import Message, MessageBatch, Recipient
from ..telemetry import hooks as telemetry
from ..tracking.events import apply_waiting_events, resolve_unconfirmed
from ..tracking.totals import refresh_message_totals

logger = logging.getLogger("django_sepsms")

_ERROR_TEXT_LENGTH = 255


def collect_or_requeue(
    item: tuple[MessageBatch, Future[SendResult]], progress: Callable[[int], None] | None
) -> SepsmsError | None:
    """Like :func:`collect_answer`, but a batch surely not sent goes back to the queue."""
    batch, future = item
    try:
        future.result()
    except SepsmsError as exc:
        if exc.retryable:
            MessageBatch.objects.filter(pk=batch.pk, status=Message.Status.SENDING).update(
                status=Message.Status.QUEUED, sent_at=None
            )
            logger.info("Batch %s put back in the queue: %s", batch.pk, exc.code)
            return exc
    except Exception:  # noqa: S110  (recorded by collect_answer below)
        pass
    return collect_answer(item, progress)


def collect_answer(
    item: tuple[MessageBatch, Future[SendResult]],
    progress: Callable[[int], None] | None,
    *,
    apply_waiting: bool = True,
) -> SepsmsError | None:
    """Record the outcome of one sent batch; return its error, if any.

    Then apply the reports that waited for an accepted batch's uuid, unless
    ``apply_waiting`` is False: the caller looks for them itself
    (``tracking.totals.settle_sole_batch``).
    """
    batch, future = item
    try:
        result = future.result()
    except SepsmsError as exc:
        record_batch_error(batch, exc)
        error: SepsmsError | None = exc
    except Exception as exc:
        # A backend bug: the request may or may not have gone out.
        crash = AmbiguousRequestError(type(exc).__name__, code="backend.crashed")
        record_batch_error(batch, crash)
        raise
    else:
        record_batch_result(batch, result)
        if apply_waiting:
            # Reports can beat the answer to the send that caused them.
            apply_waiting_events(result.uuid)
        error = None
    if progress is not None:
        progress(batch.recipient_count)
    return error


def record_batch_result(batch: MessageBatch, result: SendResult) -> None:
    """Store the provider's answer on ``batch`` (the instance too) and its recipients."""
    now = timezone.now()
    status = result.status if result.status in Message.Status.values else Message.Status.PENDING
    recipient_status = Recipient.Status.SUCCESS if result.delivered else Recipient.Status.PENDING
    with transaction.atomic():
        MessageBatch.objects.filter(pk=batch.pk).update(
            provider_uuid=result.uuid,
            ref_no=result.ref_no,
            status=status,
            total_credit=result.total_credit,
            blocked_count=result.blocked_count,
            sent_at=now,
        )
        # Unconfirmed too: a late answer to a batch given up as abandoned.
        moved = Recipient.objects.filter(
            batch=batch, status__in=[Recipient.Status.QUEUED, Recipient.Status.UNCONFIRMED]
        ).update(status=recipient_status, status_changed_at=now)
    telemetry.recipients_reached(recipient_status, moved)
    batch.provider_uuid, batch.ref_no, batch.status = result.uuid, result.ref_no, status
    batch.total_credit, batch.blocked_count = result.total_credit, result.blocked_count
    batch.sent_at = now


def record_batch_error(batch: MessageBatch, exc: SepsmsError) -> None:
    """Record ``exc`` on ``batch``: failed, or unconfirmed when the request may have arrived."""
    code = error_code_of(exc)
    ambiguous = isinstance(exc, AmbiguousRequestError)
    status = Message.Status.UNCONFIRMED if ambiguous else Message.Status.FAILED
    rstatus = Recipient.Status.UNCONFIRMED if ambiguous else Recipient.Status.FAILED
    now = timezone.now()
    logger.warning("SMS batch %s of message %s: %s", batch.position, batch.message_id, code)
    with transaction.atomic():
        MessageBatch.objects.filter(pk=batch.pk).update(
            status=status,
            error_code=code[:64],
            error_message=str(exc)[:_ERROR_TEXT_LENGTH],
            sent_at=now if ambiguous else None,
        )
        moved = Recipient.objects.filter(batch=batch).update(
            status=rstatus, error_code="" if ambiguous else code[:64], status_changed_at=now
        )
    telemetry.recipients_reached(rstatus, moved)
    if ambiguous:
        # Its delivery reports may already be here, waiting for a uuid.
        batch.status = status
        resolve_unconfirmed(batch)


#: Error code of unconfirmed batches someone recorded as never sent.
NOT_SENT_CODE = "unconfirmed.not_sent"


def mark_unconfirmed_not_sent(msg: Message) -> int:
    """Record the unconfirmed batches of ``msg`` as failed; return how many recipients.

    For a person who checked the provider's dashboard and found that these
    sends never arrived there. Only batches the provider never identified (no
    uuid) are changed; their recipients can then be sent again like any
    failed ones.
    """
    now = timezone.now()
    with transaction.atomic():
        batches = list(
            msg.batches.select_for_update()
            .filter(status=Message.Status.UNCONFIRMED, provider_uuid__isnull=True)
            .values_list("pk", flat=True)
        )
        if not batches:
            return 0
        changed = Recipient.objects.filter(
            batch_id__in=batches, status=Recipient.Status.UNCONFIRMED
        ).update(status=Recipient.Status.FAILED, error_code=NOT_SENT_CODE, status_changed_at=now)
        MessageBatch.objects.filter(pk__in=batches).update(
            status=Message.Status.FAILED,
            error_code=NOT_SENT_CODE,
            error_message="Recorded as never sent after checking the provider.",
        )
    telemetry.recipients_reached(Recipient.Status.FAILED, changed)
    refresh_message_totals(msg)
    return changed


def fail_remaining(msg: Message, exc: SepsmsError) -> None:
    """Fail the batches never attempted, with the error that stopped the send."""
    code = error_code_of(exc)[:64]
    now = timezone.now()
    with transaction.atomic():
        batches = msg.batches.filter(status=Message.Status.QUEUED)
        failed = Recipient.objects.filter(batch__in=batches).update(
            status=Recipient.Status.FAILED, error_code=code, status_changed_at=now
        )
        telemetry.recipients_reached(Recipient.Status.FAILED, failed)
        batches.update(
            status=Message.Status.FAILED,
            error_code=code,
            error_message=str(exc)[:_ERROR_TEXT_LENGTH],
        )
