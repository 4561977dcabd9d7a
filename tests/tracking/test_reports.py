"""Delivery reports move rows forward only, whatever their order."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_sepsms.models import Message, MessageBatch, Recipient
from django_sepsms.tracking.reports import apply_message_report, apply_recipient_report
from django_sepsms.tracking.status import RECIPIENT_RANK, message_status_from

pytestmark = pytest.mark.django_db

R = Recipient.Status


def make_message(phones: list[str], uuid: str = "u-1") -> Message:
    msg = Message.objects.create(
        origin="X", text="t", recipient_count=len(phones), status=Message.Status.PENDING
    )
    batch = MessageBatch.objects.create(
        message=msg, provider_uuid=uuid, status=Message.Status.PENDING
    )
    Recipient.objects.bulk_create(
        [Recipient(message=msg, batch=batch, phone=p, status=R.PENDING) for p in phones]
    )
    return msg


def test_moves_forward_and_counts() -> None:
    msg = make_message(["66812345678", "66912345678"])
    change = apply_recipient_report("u-1", "66812345678", R.SUCCESS, tx_id="tx1")
    assert change.changed
    assert (change.old_status, change.new_status) == (R.PENDING, R.SUCCESS)
    apply_recipient_report("u-1", "66912345678", R.FAILED, tx_id="tx2")
    msg.refresh_from_db()
    assert (msg.delivered_count, msg.failed_count) == (1, 1)
    # A late "pending" changes nothing; a duplicate changes nothing.
    assert not apply_recipient_report("u-1", "66812345678", R.PENDING).changed
    assert not apply_recipient_report("u-1", "66812345678", R.SUCCESS).changed
    # failed → refunded keeps it counted as failed.
    apply_recipient_report("u-1", "66912345678", R.REFUNDED)
    msg.refresh_from_db()
    assert (msg.delivered_count, msg.failed_count) == (1, 1)
    assert Recipient.objects.get(phone="66812345678").tx_id == "tx1"


def test_unknown_recipient_is_reported_as_not_found() -> None:
    assert not apply_recipient_report("nope", "66812345678", R.SUCCESS).found
    assert not apply_message_report("nope", "completed").found


def test_tx_id_is_filled_even_without_a_status_change() -> None:
    make_message(["66812345678"])
    apply_recipient_report("u-1", "66812345678", R.PENDING, tx_id="late")
    assert Recipient.objects.get().tx_id == "late"


@pytest.mark.parametrize(
    "order", list(itertools.permutations([R.PENDING, R.SENT, R.FAILED, R.SUCCESS, R.REFUNDED]))
)
def test_every_order_ends_the_same(order: tuple[str, ...]) -> None:
    msg = make_message(["66812345678"])
    for status in order:
        apply_recipient_report("u-1", "66812345678", status)
    msg.refresh_from_db()
    assert Recipient.objects.get().status == R.SUCCESS
    assert (msg.delivered_count, msg.failed_count) == (1, 0)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(list(RECIPIENT_RANK)), min_size=1, max_size=8))
def test_final_state_is_the_highest_rank(statuses: list[str]) -> None:
    Message.objects.all().delete()
    msg = make_message(["66812345678"])
    for status in statuses:
        apply_recipient_report("u-1", "66812345678", status)
    expected = max([R.PENDING, *statuses], key=RECIPIENT_RANK.__getitem__)
    recipient = Recipient.objects.get()
    assert RECIPIENT_RANK[recipient.status] == RECIPIENT_RANK[expected]
    msg.refresh_from_db()
    assert msg.delivered_count == int(recipient.status == R.SUCCESS)


def test_message_report_moves_batch_and_message_forward() -> None:
    msg = make_message(["66812345678"])
    assert apply_message_report("u-1", "processing").changed
    assert not apply_message_report("u-1", "pending").changed
    assert apply_message_report("u-1", "completed").changed
    assert not apply_message_report("u-1", "bogus").changed
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED


def test_message_status_from_batches() -> None:
    M = Message.Status
    assert message_status_from({M.COMPLETED, M.PROCESSING}) == M.PROCESSING
    assert message_status_from({M.FAILED, M.COMPLETED}) == M.COMPLETED
    assert message_status_from({M.FAILED, M.UNCONFIRMED}) == M.UNCONFIRMED
    assert message_status_from({M.FAILED}) == M.FAILED
    assert message_status_from(set()) == M.FAILED


def test_signal_once_per_change(django_capture_on_commit_callbacks: Any) -> None:
    from django_sepsms.signals import delivery_status_changed

    seen: list[tuple[str, str]] = []

    def receiver(sender: Any, recipient: Any, old_status: str, new_status: str, **kw: Any) -> None:
        seen.append((old_status, new_status))

    make_message(["66812345678"])
    delivery_status_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            apply_recipient_report("u-1", "66812345678", R.SUCCESS)
            apply_recipient_report("u-1", "66812345678", R.SUCCESS)
    finally:
        delivery_status_changed.disconnect(receiver)
    assert seen == [(R.PENDING, R.SUCCESS)]
