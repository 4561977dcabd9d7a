"""sepsms_sync against the simulator: stalled scheduled messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from django_sepsms.models import Message, MessageBatch, Recipient
from django_sepsms.sending import prepare_message, record_message
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
    Message.objects.filter(pk=msg.pk).update(created_at=timezone.now() - timedelta(minutes=20))
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
    # A live worker claimed the first batch a moment ago.
    MessageBatch.objects.filter(pk=first.pk).update(
        status=Message.Status.SENDING, sent_at=timezone.now()
    )
    sync()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Message.Status.SENDING
    assert (second.status, second.error_code) == (Message.Status.FAILED, "schedule.missed")
    assert list(msg.recipients.order_by("phone").values_list("status", flat=True)) == [
        Recipient.Status.QUEUED,
        Recipient.Status.FAILED,
    ]


def test_a_stalled_message_recorded_recently_is_left_to_its_worker(sim: Simulator) -> None:
    msg = record_message(prepare_message("Hi", ["0812345678"], scheduled_at=timezone.now()))
    out = sync()
    assert "stalled" not in out
    assert msg.batches.get().status == Message.Status.QUEUED
