"""Campaigns (send_bulk), background delivery with tasks, and a real worker."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from django_sepsms import send_bulk, send_sms
from django_sepsms.models import Message, MessageBatch, Recipient
from django_sepsms.simulator import Simulator
from tests.helpers import http_settings
from tests.queues import start_worker

pytestmark = pytest.mark.django_db
LOCMEM = {
    "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
    "ORIGIN": "TESTSHOP",
    "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
}


def numbers(count: int, start: int = 0) -> Any:
    for i in range(start, start + count):
        yield f"08{i:08d}"


def test_streams_records_and_sends_in_batches(sms_outbox: list[Any]) -> None:
    items = [
        *numbers(25),
        "not a number",
        ("0912345678", {"name": "Malee"}),
        {"phone": "+66 61 234 5678", "name": "Som"},
        "0800000001",
    ]
    with override_settings(SEPSMS={**LOCMEM, "BATCH_SIZE": 10}):
        report = send_bulk("Hi {name}", iter(items))
    msg = report.message
    assert report.recorded == 27
    assert report.refused_count == 1
    assert report.refused[0][0] == "not a number"
    msg.refresh_from_db()
    assert msg.recipient_count == 27
    assert msg.status == Message.Status.COMPLETED
    assert msg.batches.count() == 3
    assert Recipient.objects.get(phone="66912345678").variables == {"name": "Malee"}
    assert {m.message for m in sms_outbox} >= {"Hi Malee", "Hi Som"}


def test_a_crashed_campaign_resumes_without_sending_twice(sms_outbox: list[Any]) -> None:
    with override_settings(SEPSMS={**LOCMEM, "BATCH_SIZE": 10}):
        # The first run records 20 numbers and dies before sending anything.
        first = send_bulk("Sale!", numbers(20), key="nov-sale", deliver=False)
        # Half of it was sent when the process died mid-way.
        batch = first.message.batches.order_by("position").first()
        assert batch is not None
        from django_sepsms.sending import deliver_message

        MessageBatch.objects.exclude(pk=batch.pk).update(status=Message.Status.SENDING)
        deliver_message(first.message)
        MessageBatch.objects.filter(status=Message.Status.SENDING).update(
            status=Message.Status.QUEUED
        )
        sent_before = sum(len(m.recipients) for m in sms_outbox)
        # The re-run reads the whole list again, with more numbers.
        again = send_bulk("Sale!", numbers(30), key="nov-sale")
    assert again.message.pk == first.message.pk
    assert again.recorded == 10
    total = sum(len(m.recipients) for m in sms_outbox)
    assert sent_before == 10
    assert total == 30  # every number exactly once
    phones = [p for m in sms_outbox for p in m.recipients]
    assert len(phones) == len(set(phones))


def test_same_key_other_text_is_refused() -> None:
    from django.core.exceptions import ValidationError

    with override_settings(SEPSMS=LOCMEM):
        send_bulk("One", numbers(1), key="k")
        with pytest.raises(ValidationError):
            send_bulk("Two", numbers(1), key="k")


def test_a_naive_scheduled_time_is_refused_before_anything_is_recorded() -> None:
    from django.core.exceptions import ValidationError

    with override_settings(SEPSMS=LOCMEM), pytest.raises(ValidationError) as info:
        send_bulk("Hi", numbers(1), scheduled_at=datetime(2030, 1, 1, 9), key="naive")
    assert info.value.code == "naive_datetime"
    assert Message.objects.count() == 0


def test_a_failed_send_is_recorded_not_raised(sim: Simulator) -> None:
    sim.credits = 0
    report = send_bulk("Hi", numbers(2))
    msg = report.message
    msg.refresh_from_db()
    assert report.recorded == 2
    assert (msg.status, msg.error_code) == (Message.Status.FAILED, "credit.insufficient")
    assert msg.failed_count == 2


def test_use_tasks_enqueues_on_commit(
    sms_outbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with override_settings(SEPSMS={**LOCMEM, "USE_TASKS": True}):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            msg = send_sms("Hi", ["0812345678"])
        assert sms_outbox == []  # nothing sent inside the transaction
        assert msg.status == Message.Status.QUEUED
        for callback in callbacks:
            callback()  # the immediate task backend runs the task now
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED
    assert len(sms_outbox) == 1


def test_passing_errors_put_batches_back_in_the_queue(sim: Simulator) -> None:
    from django_sepsms.sending import deliver_message, prepare_message, record_message

    msg = record_message(prepare_message("Hi", ["0812345678"]))
    sim.fail_next("/message/send", status=429, code="rate_limit.exceeded", times=1)
    with override_settings(SEPSMS=http_settings(sim, MAX_RETRIES=0)):
        deliver_message(msg, fail_silently=True, postpone_passing_errors=True)
    assert msg.batches.get().status == Message.Status.QUEUED  # to be tried again
    assert msg.recipients.get().status == Recipient.Status.QUEUED
    with override_settings(SEPSMS=http_settings(sim)):
        deliver_message(msg, postpone_passing_errors=True)
    msg.refresh_from_db()
    assert msg.status == Message.Status.PENDING


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_a_campaign(simulator: Simulator) -> None:
    """django-tasks-db's worker process, on PostgreSQL, sends what web code queued."""
    if connection.vendor != "postgresql":
        pytest.skip("the database queue worker is tested on PostgreSQL (CI runs it)")
    simulator.reset()
    simulator.rate_limits_enabled = False
    backend = "django_tasks_db.DatabaseBackend"
    sepsms = http_settings(simulator, USE_TASKS=True, BATCH_SIZE=50)
    with override_settings(SEPSMS=sepsms, TASKS={"default": {"BACKEND": backend}}):
        report = send_bulk("Flash sale", numbers(200), key="worker-test")
    msg = report.message
    assert msg.batches.filter(status=Message.Status.QUEUED).count() == 4
    worker = start_worker(simulator, stdout=subprocess.PIPE)
    try:
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    msg.refresh_from_db()
    assert msg.status == Message.Status.PENDING, output
    assert msg.batches.filter(provider_uuid__isnull=False).count() == 4
    assert len(simulator.messages) == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_loses_and_duplicates_nothing(simulator: Simulator) -> None:
    """Kill the worker halfway; sepsms_sync's recovery and a new worker finish the job."""
    import signal

    from django_sepsms.sending.recovery import recover_abandoned_batches, resume_stalled_messages

    if connection.vendor != "postgresql":
        pytest.skip("the database queue worker is tested on PostgreSQL (CI runs it)")
    simulator.reset()
    simulator.rate_limits_enabled = False
    backend = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    sepsms = http_settings(simulator, USE_TASKS=True, BATCH_SIZE=20, SEND_CONCURRENCY=1)
    with override_settings(SEPSMS=sepsms, TASKS=backend):
        report = send_bulk("Flash sale", numbers(200), key="kill-test")
    msg = report.message
    simulator.delay_next("/message/send", seconds=0.4, times=100)  # each request takes a while
    worker = start_worker(simulator, batch_size=20)
    deadline = time.monotonic() + 30
    while len(simulator.messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)  # no chance to clean up
    worker.wait(timeout=10)
    sent_before = len(simulator.messages)
    assert 0 < sent_before < 10

    # What sepsms_sync does (here without waiting ten minutes).
    with override_settings(SEPSMS=sepsms, TASKS=backend):
        recover_abandoned_batches(older_than=timedelta(0))
        assert resume_stalled_messages(older_than=timedelta(0)) == 1
    worker = start_worker(simulator, batch_size=20)
    worker.wait(timeout=60)

    batches = list(msg.batches.values_list("status", "provider_uuid"))
    sent = [uuid for status, uuid in batches if uuid]
    unconfirmed = [s for s, uuid in batches if s == Message.Status.UNCONFIRMED and not uuid]
    assert len(sent) + len(unconfirmed) == 10  # every batch accounted for
    assert len(unconfirmed) <= 1  # at most the one in flight at the kill
    # Nothing was sent twice: every number reached the provider at most once.
    delivered = [p for m in simulator.messages.values() for p in m.recipients]
    phones = [r.msisdn for r in delivered]
    assert len(phones) == len(set(phones))
    assert len(simulator.messages) == len(sent) + len(unconfirmed)
