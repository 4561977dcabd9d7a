"""Recording a message, its batches and its recipients before anything is sent."""

from __future__ import annotations

from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from ..conf import sepsms_settings
from ..models import Message, MessageBatch, Recipient
from .prepare import PreparedMessage
from .rows import insert_rows


def record_message(prepared: PreparedMessage, *, claimed: bool = False, **fields: Any) -> Message:
    """Save a message, its batches and its recipients in one transaction.

    Recipients are split into batches of ``BATCH_SIZE`` here, so delivery
    (in this process or a worker) only has to claim and send each batch. With
    ``claimed`` the batches are recorded as claimed already (``sending``), for
    a caller that sends them at once with ``deliver_message(recorded=prepared)``
    and wants them never resumed later by anyone else (a one-time code).
    """
    size = max(1, sepsms_settings.BATCH_SIZE)
    phones = prepared.phones
    claim = {"status": Message.Status.SENDING, "sent_at": timezone.now()} if claimed else {}
    with transaction.atomic():
        msg = Message.objects.create(
            kind=prepared.kind,
            origin=prepared.origin,
            text=prepared.text,
            variables=prepared.variables,
            scheduled_at=prepared.scheduled_at,
            recipient_count=len(phones),
            estimated_credit=prepared.estimated_credit(),
            **fields,
        )
        batches = MessageBatch.objects.bulk_create(
            [
                MessageBatch(
                    message=msg,
                    position=i,
                    recipient_count=len(phones[i * size : (i + 1) * size]),
                    **claim,
                )
                for i in range(-(-len(phones) // size))
            ]
        )
        if any(b.pk is None for b in batches):  # backends without RETURNING (MySQL)
            batches = list(msg.batches.order_by("position"))
        prepared.batches = batches
        for batch in batches:
            start = batch.position * size
            prepared.batch_phones[batch.pk] = phones[start : start + size]
            insert_recipients(msg, batch, prepared.batch_phones[batch.pk], prepared.variables)
    return msg


def insert_recipients(
    msg: Message,
    batch: MessageBatch,
    phones: list[str],
    variables: dict[str, dict[str, Any]] | None,
) -> None:
    """Insert queued recipients as plain rows (see :mod:`django_sepsms.sending.rows`)."""
    if not phones:
        return
    connection = connections[router.db_for_write(Recipient)]
    json_field = Recipient._meta.get_field("variables")
    created = Recipient._meta.get_field("created_at").get_db_prep_save(timezone.now(), connection)
    status = str(Recipient.Status.QUEUED)
    given = variables or {}
    values = {p: json_field.get_db_prep_save(given[p], connection) for p in phones if p in given}
    message_id, batch_id = msg.pk, batch.pk
    insert_rows(
        Recipient,
        ["message", "batch", "phone", "variables", "status", "tx_id", "error_code", "created_at"],
        [
            (
                message_id,
                batch_id,
                phone,
                values.get(phone),
                status,
                "",
                "",
                created,
            )
            for phone in phones
        ],
    )
