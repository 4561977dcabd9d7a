"""Campaigns on RQ and on Celery: real worker processes (``rqworker``, a Celery worker) on
Redis, set up as docs/campaigns.rst writes it, deliver what web code queued, and a worker
killed halfway loses and duplicates nothing (tests/sending/test_bulk.py shows the same for
the database queue)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings

from django_sepsms import send_bulk
from django_sepsms.models import Message
from django_sepsms.simulator import Simulator
from tests.helpers import http_settings
from tests.queues import clear_queue, documented_settings, queue_url, require_queue, start_worker

pytestmark = pytest.mark.django_db(transaction=True)
QUEUES = ["rq", "celery"]


def numbers(count: int) -> Iterator[str]:
    for i in range(count):
        yield f"08{i:08d}"


@pytest.fixture(params=QUEUES)
def queue(request: pytest.FixtureRequest, simulator: Simulator) -> Iterator[str]:
    """Each queue, its Redis keys deleted, with this process's settings as the docs write
    them (``TASKS`` and the queue's own); the simulator reset."""
    name: str = request.param
    client = require_queue(name)
    simulator.reset()
    simulator.rate_limits_enabled = False
    documented = documented_settings(name, settings.INSTALLED_APPS, queue_url())
    documented.pop("INSTALLED_APPS")
    if name == "celery":
        from tests.celery_app import app

        app.conf.update(broker_url=queue_url())
    with override_settings(**documented):
        yield name
    clear_queue(client, name)


def batches_left(msg: Message) -> bool:
    return msg.batches.filter(status__in=[Message.Status.QUEUED, Message.Status.SENDING]).exists()


def finish(worker: subprocess.Popen[str], queue: str, done: Callable[[], bool]) -> str:
    """Let the worker work until ``done()`` (RQ's, in burst mode, until the queue is
    empty), then stop it; what it printed."""
    deadline = time.monotonic() + 60
    try:
        if queue == "rq":
            output, _ = worker.communicate(timeout=60)
            return output or ""
        while not done() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
        os.killpg(worker.pid, signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
        return output or ""
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.communicate()


def test_the_documented_settings_name_the_backends() -> None:
    rq = documented_settings("rq", [], "redis://127.0.0.1:6379/0")
    assert rq["TASKS"] == {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
    assert rq["INSTALLED_APPS"] == ["django_rq"]
    assert set(rq["RQ_QUEUES"]) == {"default"}
    celery = documented_settings("celery", [], "redis://127.0.0.1:6379/0")
    assert celery["TASKS"] == {"default": {"BACKEND": "tests.celery_tasks.CeleryBackend"}}
    assert celery["CELERY_IMPORTS"] == ["tests.celery_tasks"]


def test_a_real_worker_delivers_a_campaign(simulator: Simulator, queue: str) -> None:
    sepsms = http_settings(simulator, USE_TASKS=True, BATCH_SIZE=50)
    with override_settings(SEPSMS=sepsms):
        report = send_bulk("Flash sale", numbers(200), key=f"{queue}-worker-test")
    msg = report.message
    assert msg.batches.filter(status=Message.Status.QUEUED).count() == 4
    worker = start_worker(simulator, queue=queue, stdout=subprocess.PIPE)
    output = finish(worker, queue, lambda: not batches_left(msg))
    msg.refresh_from_db()
    assert msg.status == Message.Status.PENDING, output
    assert msg.batches.filter(provider_uuid__isnull=False).count() == 4
    assert len(simulator.messages) == 4


def test_a_killed_worker_loses_and_duplicates_nothing(simulator: Simulator, queue: str) -> None:
    """SIGKILL the worker (and RQ's work horse) halfway; sepsms_sync's recovery and a new
    worker finish the campaign."""
    from django_sepsms.sending.recovery import recover_abandoned_batches, resume_stalled_messages

    sepsms = http_settings(simulator, USE_TASKS=True, BATCH_SIZE=20, SEND_CONCURRENCY=1)
    with override_settings(SEPSMS=sepsms):
        report = send_bulk("Flash sale", numbers(200), key=f"{queue}-kill-test")
    msg = report.message
    simulator.delay_next("/message/send", seconds=0.4, times=100)  # each request takes a while
    worker = start_worker(simulator, queue=queue, batch_size=20)
    deadline = time.monotonic() + 30
    while len(simulator.messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)  # the whole session: no chance to clean up
    worker.wait(timeout=10)
    sent_before = len(simulator.messages)
    assert 0 < sent_before < 10

    # What sepsms_sync does (here without waiting ten minutes).
    with override_settings(SEPSMS=sepsms):
        recover_abandoned_batches(older_than=timedelta(0))
        assert resume_stalled_messages(older_than=timedelta(0)) == 1
    worker = start_worker(simulator, queue=queue, batch_size=20)
    finish(worker, queue, lambda: not batches_left(msg))

    batches = list(msg.batches.values_list("status", "provider_uuid"))
    sent = [uuid for status, uuid in batches if uuid]
    unconfirmed = [s for s, uuid in batches if s == Message.Status.UNCONFIRMED and not uuid]
    assert len(sent) + len(unconfirmed) == 10  # every batch accounted for
    assert len(unconfirmed) <= 1  # at most the one in flight at the kill
    # Nothing was sent twice: every number reached the provider once, the batch in flight too.
    phones = [r.msisdn for m in simulator.messages.values() for r in m.recipients]
    assert len(phones) == len(set(phones)) == 200
    assert len(simulator.messages) == len(sent) + len(unconfirmed)
