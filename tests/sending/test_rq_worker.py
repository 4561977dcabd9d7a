"""Campaigns on RQ: real ``rqworker`` processes on Redis, with the settings of
docs/campaigns.rst, deliver what web code queued, and a worker killed halfway loses and
duplicates nothing (as tests/sending/test_bulk.py shows for the database queue)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from django_sepsms import send_bulk
from django_sepsms.models import Message
from django_sepsms.simulator import Simulator
from tests.helpers import http_settings
from tests.queues import documented_rq_settings, require_rq, rq_url, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


def numbers(count: int) -> Iterator[str]:
    for i in range(count):
        yield f"08{i:08d}"


@pytest.fixture
def rq_queue(simulator: Simulator) -> Iterator[dict[str, Any]]:
    """The test process's ``TASKS`` and ``RQ_QUEUES``, as the docs write them, on an
    empty queue; the simulator reset."""
    client = require_rq()
    simulator.reset()
    simulator.rate_limits_enabled = False
    documented = documented_rq_settings(settings.INSTALLED_APPS, rq_url())
    with override_settings(TASKS=documented["TASKS"], RQ_QUEUES=documented["RQ_QUEUES"]):
        yield documented
    left = list(client.scan_iter(match="rq:*", count=1000))
    if left:
        client.delete(*left)


def finish(worker: subprocess.Popen[str], timeout: float = 60) -> str:
    """Wait for a burst worker to empty the queue and stop; its output."""
    try:
        output, _ = worker.communicate(timeout=timeout)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.communicate()
    return output or ""


def test_the_documented_settings_name_the_rq_backend() -> None:
    documented = documented_rq_settings([], "redis://127.0.0.1:6379/0")
    assert documented["TASKS"] == {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
    assert documented["INSTALLED_APPS"] == ["django_rq"]
    assert set(documented["RQ_QUEUES"]) == {"default"}


def test_a_real_rq_worker_delivers_a_campaign(
    simulator: Simulator, rq_queue: dict[str, Any]
) -> None:
    sepsms = http_settings(simulator, USE_TASKS=True, BATCH_SIZE=50)
    with override_settings(SEPSMS=sepsms):
        report = send_bulk("Flash sale", numbers(200), key="rq-worker-test")
    msg = report.message
    assert msg.batches.filter(status=Message.Status.QUEUED).count() == 4
    assert rq_queue["RQ_QUEUES"]["default"]["URL"] == rq_url()
    output = finish(start_worker(simulator, queue="rq", stdout=subprocess.PIPE))
    msg.refresh_from_db()
    assert msg.status == Message.Status.PENDING, output
    assert msg.batches.filter(provider_uuid__isnull=False).count() == 4
    assert len(simulator.messages) == 4


def test_a_killed_rq_worker_loses_and_duplicates_nothing(
    simulator: Simulator, rq_queue: dict[str, Any]
) -> None:
    """SIGKILL the worker and its work horse halfway; sepsms_sync's recovery and a new
    worker finish the campaign."""
    from django_sepsms.sending.recovery import recover_abandoned_batches, resume_stalled_messages

    sepsms = http_settings(simulator, USE_TASKS=True, BATCH_SIZE=20, SEND_CONCURRENCY=1)
    with override_settings(SEPSMS=sepsms):
        report = send_bulk("Flash sale", numbers(200), key="rq-kill-test")
    msg = report.message
    simulator.delay_next("/message/send", seconds=0.4, times=100)  # each request takes a while
    worker = start_worker(simulator, queue="rq", batch_size=20)
    deadline = time.monotonic() + 30
    while len(simulator.messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its horse: no chance to clean up
    worker.wait(timeout=10)
    sent_before = len(simulator.messages)
    assert 0 < sent_before < 10

    # What sepsms_sync does (here without waiting ten minutes).
    with override_settings(SEPSMS=sepsms):
        recover_abandoned_batches(older_than=timedelta(0))
        assert resume_stalled_messages(older_than=timedelta(0)) == 1
    finish(start_worker(simulator, queue="rq", batch_size=20))

    batches = list(msg.batches.values_list("status", "provider_uuid"))
    sent = [uuid for status, uuid in batches if uuid]
    unconfirmed = [s for s, uuid in batches if s == Message.Status.UNCONFIRMED and not uuid]
    assert len(sent) + len(unconfirmed) == 10  # every batch accounted for
    assert len(unconfirmed) <= 1  # at most the one in flight at the kill
    # Nothing was sent twice: every number reached the provider at most once.
    phones = [r.msisdn for m in simulator.messages.values() for r in m.recipients]
    assert len(phones) == len(set(phones)) == 200  # and every one did, the one batch in flight too
    assert len(simulator.messages) == len(sent) + len(unconfirmed)
