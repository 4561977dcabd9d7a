"""Delivery on the task framework when a send meets a passing error: tried again later
where the task backend can defer, recorded as it ended where it cannot (an immediate
backend), and never an exception from the retry itself."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from django.test import override_settings
from django.utils import timezone
from django.utils.module_loading import import_string

from django_sepsms import send_sms
from django_sepsms.exceptions import NetworkError
from django_sepsms.models import Message, Recipient
from django_sepsms.sending import prepare_message, record_message
from django_sepsms.sending.tasks import RETRY_DELAY, deliver_message_task
from django_sepsms.simulator import Simulator
from tests.backends import ScriptedBackend
from tests.helpers import http_settings

pytestmark = pytest.mark.django_db

try:
    importlib.import_module("django.tasks")
    TASKS_PACKAGE = "django.tasks"  # Django 6
except ImportError:
    TASKS_PACKAGE = "django_tasks"  # the backport on Django 5.2
IMMEDIATE = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}
DUMMY = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
DummyBackend: Any = import_string(DUMMY["default"]["BACKEND"])
SCRIPTED = {
    "BACKEND": "tests.backends.ScriptedBackend",
    "ORIGIN": "TESTSHOP",
    "USE_TASKS": True,
}


class QueueDownBackend(DummyBackend):
    """Defers, but the queue refuses every task meant for later."""

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        if task.run_after is not None:
            raise ConnectionError("the queue is down")
        return super().enqueue(task, args, kwargs)


@pytest.fixture
def script() -> Iterator[list[Exception | None]]:
    ScriptedBackend.script = []
    ScriptedBackend.calls = []
    yield ScriptedBackend.script
    ScriptedBackend.script = []
    ScriptedBackend.calls = []


def queued(*phones: str) -> Message:
    """A message recorded, its delivery not yet run (what ``send_sms`` leaves for the task)."""
    return record_message(prepare_message("Hi", list(phones)))


def outage() -> NetworkError:
    return NetworkError("Could not connect to the SMS provider.", code="network.connect")


def test_an_immediate_backend_records_an_outage_instead_of_raising(
    script: list[Exception | None], django_capture_on_commit_callbacks: Any
) -> None:
    script.append(outage())
    with override_settings(SEPSMS=SCRIPTED, TASKS=IMMEDIATE):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            msg = send_sms("Hi", ["0812345678"])
        assert msg.status == Message.Status.QUEUED
        (deliver,) = callbacks
        deliver()  # the immediate backend runs the task here, in the request
    msg.refresh_from_db()
    assert msg.status == Message.Status.FAILED  # not left "queued" forever
    assert msg.error_code == "network.connect"
    batch = msg.batches.get()
    assert (batch.status, batch.error_code) == (Message.Status.FAILED, "network.connect")
    recipient = msg.recipients.get()
    assert (recipient.status, recipient.error_code) == (Recipient.Status.FAILED, "network.connect")
    assert len(ScriptedBackend.calls) == 1


def test_the_task_itself_succeeds_on_an_immediate_backend(
    script: list[Exception | None],
) -> None:
    script.append(outage())
    with override_settings(SEPSMS=SCRIPTED, TASKS=IMMEDIATE):
        msg = queued("0812345678")
        result = deliver_message_task.enqueue(msg.pk)
    assert result.errors == []  # no InvalidTask from a retry the backend cannot take
    assert result.return_value == {"status": Message.Status.FAILED}


def test_a_provider_outage_through_the_simulator(sim: Simulator) -> None:
    sim.fail_next("/message/send", status=429, code="rate_limit.exceeded", times=10)
    sepsms = http_settings(sim, USE_TASKS=True, MAX_RETRIES=1, MAX_RETRY_WAIT=0.05)
    with override_settings(SEPSMS=sepsms, TASKS=IMMEDIATE):
        msg = queued("0812345678", "0898765432")
        result = deliver_message_task.enqueue(msg.pk)
    assert result.errors == []
    msg.refresh_from_db()
    assert msg.status == Message.Status.FAILED
    assert set(msg.batches.values_list("status", "error_code")) == {
        (Message.Status.FAILED, "rate_limit.exceeded")
    }
    assert not msg.recipients.filter(status=Recipient.Status.QUEUED).exists()
    assert sim.messages == {}


def test_a_backend_that_defers_tries_again_later(script: list[Exception | None]) -> None:
    script.append(outage())
    with override_settings(SEPSMS=SCRIPTED, TASKS=DUMMY):
        msg = queued("0812345678")
        assert deliver_message_task.call(msg.pk) == {"status": Message.Status.QUEUED}
        (retry,) = cast(Any, deliver_message_task.get_backend()).results  # DummyBackend's
    assert list(retry.args) == [msg.pk]
    wait = retry.task.run_after - timezone.now()
    assert RETRY_DELAY - timedelta(seconds=5) < wait <= RETRY_DELAY
    assert msg.batches.get().status == Message.Status.QUEUED  # waits for that retry
    with override_settings(SEPSMS=SCRIPTED):
        assert deliver_message_task.call(msg.pk) == {"status": Message.Status.COMPLETED}


def test_a_retry_the_queue_refuses_is_recorded_not_raised(
    script: list[Exception | None],
) -> None:
    tasks = {"default": {"BACKEND": f"{__name__}.QueueDownBackend"}}
    script.append(outage())
    with override_settings(SEPSMS=SCRIPTED, TASKS=tasks):
        msg = queued("0812345678")
        assert deliver_message_task.call(msg.pk) == {"status": Message.Status.FAILED}
    batch = msg.batches.get()
    assert (batch.status, batch.error_code) == (Message.Status.FAILED, "tasks.retry_not_queued")
    assert "refused to queue its retry (ConnectionError)" in batch.error_message
    assert msg.recipients.get().error_code == "tasks.retry_not_queued"
