"""A message's totals: from its rows, or from the answer of its only batch, alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from django_sepsms import send_sms
from django_sepsms.models import Message, MessageBatch, Recipient
from django_sepsms.sending import deliver
from django_sepsms.tracking.reports import apply_message_report, apply_recipient_report
from django_sepsms.tracking.totals import refresh_message_totals
from tests.backends import FixedUuidBackend

pytestmark = pytest.mark.django_db

TOTALS = [
    "status",
    "total_credit",
    "blocked_count",
    "error_code",
    "error_message",
    "sent_at",
    "delivered_count",
    "failed_count",
]


def totals(msg: Message) -> dict[str, Any]:
    return {name: getattr(msg, name) for name in TOTALS}


def derived(msg: Message) -> dict[str, Any]:
    """What :func:`refresh_message_totals` derives from the rows now."""
    again = Message.objects.get(pk=msg.pk)
    refresh_message_totals(again)
    return totals(again)


@pytest.mark.parametrize("backend", [None, FixedUuidBackend], ids=["delivered", "pending"])
def test_the_answer_of_the_only_batch_gives_the_totals_the_rows_give(
    backend: Any, sms_outbox: list[Any]
) -> None:
    FixedUuidBackend.next_uuid = "sms-one"
    msg = send_sms("Hi", "0812345678", backend=backend() if backend else None)
    stored = totals(Message.objects.get(pk=msg.pk))
    assert totals(msg) == stored  # the instance, without reading it back
    assert stored == derived(msg)
    assert stored["status"] in {Message.Status.COMPLETED, Message.Status.PENDING}


def between_answer_and_totals(
    monkeypatch: pytest.MonkeyPatch, report: Callable[[MessageBatch], Any]
) -> None:
    """Apply ``report`` after the batch's answer is recorded, before the message sums up."""
    settle = deliver.settle_sole_batch

    def report_first(msg: Message, batch: MessageBatch, delivered: int) -> bool:
        report(batch)
        return settle(msg, batch, delivered)

    monkeypatch.setattr(deliver, "settle_sole_batch", report_first)


def test_a_report_applied_meanwhile_is_counted_once(
    monkeypatch: pytest.MonkeyPatch, sms_outbox: list[Any]
) -> None:
    FixedUuidBackend.next_uuid = "sms-meanwhile"
    between_answer_and_totals(
        monkeypatch,
        lambda batch: apply_recipient_report(str(batch.provider_uuid), "66812345678", "success"),
    )
    msg = send_sms("Hi", "0812345678", backend=FixedUuidBackend())
    assert Recipient.objects.get().status == Recipient.Status.SUCCESS
    stored = Message.objects.get(pk=msg.pk)
    assert (stored.delivered_count, stored.failed_count) == (1, 0)
    assert totals(stored) == derived(msg)


def test_a_status_reported_meanwhile_is_not_taken_back(
    monkeypatch: pytest.MonkeyPatch, sms_outbox: list[Any]
) -> None:
    FixedUuidBackend.next_uuid = "sms-done"
    between_answer_and_totals(
        monkeypatch,
        lambda batch: apply_message_report(str(batch.provider_uuid), Message.Status.COMPLETED),
    )
    msg = send_sms("Hi", "0812345678", backend=FixedUuidBackend())
    stored = Message.objects.get(pk=msg.pk)
    assert stored.status == Message.Status.COMPLETED
    assert totals(stored) == derived(msg)
