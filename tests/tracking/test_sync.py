"""sepsms_sync against the simulator: stalled scheduled messages, blocked numbers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from django_sepsms import send_sms
from django_sepsms.models import Message, MessageBatch, Recipient
from django_sepsms.sending import prepare_message, record_message
from django_sepsms.signals import delivery_status_changed
from django_sepsms.simulator import Simulator
from tests.helpers import http_settings

pytestmark = pytest.mark.django_db


def sync(*args: Any) -> str:
    out = StringIO()
    call_command("sepsms_sync", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def stalled(phones: list[str], scheduled_in: timedelta) -> Message:
    """A scheduled message recorded 20 minutes ago by a process that died before sending."""
    prepared = prepare_message("Hi", phones, scheduled_at=timezone.now() + scheduled_in)
    msg = record_message(prepared)
    then = timezone.now() - timedelta(minutes=20)
    Message.objects.filter(pk=msg.pk).update(created_at=then)
    MessageBatch.objects.filter(message=msg).update(created_at=then)
    return msg


def sends(sim: Simulator) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith("/message/send")]


# Stalled scheduled messages.


def test_a_stalled_scheduled_message_is_resumed_while_its_time_is_ahead(sim: Simulator) -> None:
    msg = stalled(["0812345678"], timedelta(days=1))
    out = sync()
    assert "1 stalled message(s) resumed." in out
    [request] = sends(sim)
    assert request.json["recipients"] == ["66812345678"]
    assert request.json["scheduledTime"] is not None
    msg.refresh_from_db()
    assert msg.scheduled_at is not None
    sent_for = datetime.fromisoformat(request.json["scheduledTime"])
    assert sent_for == msg.scheduled_at.replace(microsecond=0)
    assert msg.status == Message.Status.SCHEDULED
    assert msg.recipients.get().status == Recipient.Status.PENDING
    # Nothing is left to resume: a second run sends nothing more.
    assert "resumed" not in sync()
    assert len(sends(sim)) == 1


def test_a_stalled_scheduled_message_past_its_time_is_not_sent_late(sim: Simulator) -> None:
    msg = stalled(["0812345678", "0912345678"], -timedelta(minutes=5))
    out = sync()
    assert "1 stalled scheduled message(s) past their time: not sent" in out
    assert "resumed" not in out
    assert sends(sim) == []
    msg.refresh_from_db()
    assert msg.status == Message.Status.FAILED
    assert msg.error_code == "schedule.missed"
    assert msg.failed_count == 2
    assert set(msg.recipients.values_list("status", "error_code")) == {
        (Recipient.Status.FAILED, "schedule.missed")
    }
    assert "past their time" not in sync()


def test_only_unclaimed_batches_of_a_missed_schedule_fail(sim: Simulator) -> None:
    with override_settings(SEPSMS=http_settings(sim, BATCH_SIZE=1)):
        msg = stalled(["0812345678", "0912345678"], -timedelta(minutes=5))
    first, second = msg.batches.order_by("position")
    # A worker claimed the first batch 15 minutes ago, then died.
    MessageBatch.objects.filter(pk=first.pk).update(
        status=Message.Status.SENDING, sent_at=timezone.now() - timedelta(minutes=15)
    )
    sync()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Message.Status.UNCONFIRMED  # abandoned mid-request
    assert (second.status, second.error_code) == (Message.Status.FAILED, "schedule.missed")
    assert list(msg.recipients.order_by("phone").values_list("status", flat=True)) == [
        Recipient.Status.UNCONFIRMED,
        Recipient.Status.FAILED,
    ]


def test_a_campaign_a_worker_is_still_sending_is_left_alone(sim: Simulator) -> None:
    with override_settings(SEPSMS=http_settings(sim, BATCH_SIZE=1)):
        msg = stalled(["0812345678", "0912345678", "0612345678"], -timedelta(minutes=5))
    first = msg.batches.order_by("position").first()
    assert first is not None
    # A live worker claimed the first batch a moment ago.
    MessageBatch.objects.filter(pk=first.pk).update(
        status=Message.Status.SENDING, sent_at=timezone.now()
    )
    out = sync()
    assert "past their time" not in out
    assert "resumed" not in out
    assert msg.batches.filter(status=Message.Status.QUEUED).count() == 2


def test_a_stalled_message_recorded_recently_is_left_to_its_worker(sim: Simulator) -> None:
    msg = record_message(prepare_message("Hi", ["0812345678"], scheduled_at=timezone.now()))
    out = sync()
    assert "stalled" not in out
    assert msg.batches.get().status == Message.Status.QUEUED


# Numbers the provider blocks.


@pytest.fixture
def changes() -> Iterator[list[tuple[str, str, str]]]:
    """``(phone, old, new)`` of every ``delivery_status_changed`` sent."""
    seen: list[tuple[str, str, str]] = []

    def receiver(
        sender: Any, recipient: Recipient, old_status: str, new_status: str, **kwargs: Any
    ) -> None:
        seen.append((recipient.phone, old_status, new_status))

    delivery_status_changed.connect(receiver)
    try:
        yield seen
    finally:
        delivery_status_changed.disconnect(receiver)


def test_blocked_numbers_fail_once_the_provider_is_done(
    sim: Simulator,
    changes: list[tuple[str, str, str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    sim.delivery_delay = 60  # delivered by deliver_now() below only
    sim.blocked_numbers = {"0912345678"}
    msg = send_sms("Hi", ["0812345678", "0912345678", "0612345678"])
    batch = msg.batches.get()
    assert batch.blocked_count == 1
    assert batch.provider_uuid
    assert len(sim.messages[batch.provider_uuid].recipients) == 2
    # Not final yet at the provider: the blocked number may not be told apart.
    sync()
    assert msg.recipients.get(phone="66912345678").status == Recipient.Status.PENDING

    sim.deliver_now(batch.provider_uuid)
    with django_capture_on_commit_callbacks(execute=True):
        out = sync()
    assert "1 message(s) checked, 3 recipient status(es) changed." in out
    blocked = msg.recipients.get(phone="66912345678")
    assert (blocked.status, blocked.error_code) == (Recipient.Status.FAILED, "blocked")
    assert set(msg.recipients.exclude(pk=blocked.pk).values_list("status", flat=True)) == {
        Recipient.Status.SUCCESS
    }
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED
    assert (msg.delivered_count, msg.failed_count) == (2, 1)
    assert ("66912345678", Recipient.Status.PENDING, Recipient.Status.FAILED) in changes
    # Asked again, nothing changes.
    assert "0 recipient status(es) changed" in sync(str(msg.pk))
    msg.refresh_from_db()
    assert (msg.delivered_count, msg.failed_count) == (2, 1)


def test_blocked_numbers_are_found_across_every_page(sim: Simulator) -> None:
    phones = [f"08{i:08d}" for i in range(250)]
    sim.blocked_numbers = {phones[3], phones[240]}
    msg = send_sms("Hi", phones)
    batch = msg.batches.get()
    sim.deliver_now(batch.provider_uuid)
    sync()
    pages = [r for r in sim.requests if r.path.endswith("/recipients")]
    assert len(pages) == 3  # 248 listed, 100 a page
    failed = msg.recipients.filter(status=Recipient.Status.FAILED)
    assert sorted(failed.values_list("phone", "error_code")) == [
        ("66800000003", "blocked"),
        ("66800000240", "blocked"),
    ]
    assert msg.recipients.filter(status=Recipient.Status.SUCCESS).count() == 248


def test_blocked_numbers_stay_pending_when_the_numbers_do_not_add_up(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.blocked_numbers = {"0912345678", "0612345678"}
    msg = send_sms("Hi", ["0812345678", "0912345678", "0612345678"])
    batch = msg.batches.get()
    MessageBatch.objects.filter(pk=batch.pk).update(blocked_count=1)  # one fewer than unlisted
    sim.deliver_now(batch.provider_uuid)
    with caplog.at_level(logging.WARNING, logger="django_sepsms"):
        sync()
    assert "did not list 2 recipient(s) but blocked only 1" in caplog.text
    assert msg.recipients.get(phone="66812345678").status == Recipient.Status.SUCCESS
    assert set(
        msg.recipients.exclude(phone="66812345678").values_list("status", "error_code")
    ) == {(Recipient.Status.PENDING, "")}


def test_blocked_numbers_stay_pending_when_the_list_cannot_be_read(sim: Simulator) -> None:
    sim.blocked_numbers = {"0912345678"}
    msg = send_sms("Hi", ["0812345678", "0912345678"])
    uuid = msg.batches.get().provider_uuid
    sim.deliver_now(uuid)
    sim.fail_next(f"/message/{uuid}/recipients", status=500, times=10)
    out = StringIO()
    with pytest.raises(CommandError, match="could not be checked"):
        call_command("sepsms_sync", stdout=out, stderr=StringIO())
    assert set(msg.recipients.values_list("status", flat=True)) == {Recipient.Status.PENDING}
