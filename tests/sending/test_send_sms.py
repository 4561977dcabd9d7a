from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_sepsms
from django_sepsms import asend_sms, get_backend, send_sms
from django_sepsms.backends.base import OutgoingSms, SendResult
from django_sepsms.backends.console import ConsoleBackend
from django_sepsms.backends.dummy import DummyBackend
from django_sepsms.backends.locmem import LocmemBackend
from django_sepsms.exceptions import (
    AmbiguousRequestError,
    ConfigurationError,
    InsufficientCreditError,
)
from django_sepsms.models import Message, MessageBatch, Recipient
from django_sepsms.sending import deliver, outcomes
from django_sepsms.signals import message_sent
from tests.backends import ScriptedBackend
from tests.twins import sync_and_async

pytestmark = pytest.mark.django_db

#: Every test here runs with the sync functions, then with their async twins.
_callers = sync_and_async(globals(), send_sms=asend_sms)

SCRIPTED = "tests.backends.ScriptedBackend"


@pytest.fixture
def scripted() -> Iterator[type[ScriptedBackend]]:
    ScriptedBackend.script = []
    ScriptedBackend.calls = []
    # One request at a time, so the script's steps meet the batches in order.
    with override_settings(
        SEPSMS={"BACKEND": SCRIPTED, "ORIGIN": "TESTSHOP", "SEND_CONCURRENCY": 1}
    ):
        yield ScriptedBackend


def test_records_then_sends(sms_outbox: list[Any]) -> None:
    msg = send_sms("Hello", ["0812345678", "+66 91-234-5678"])
    assert len(sms_outbox) == 1
    assert sms_outbox[0].recipients == ["66812345678", "66912345678"]
    assert sms_outbox[0].message == "Hello"
    assert sms_outbox[0].origin == "TESTSHOP"
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED
    assert msg.recipient_count == 2
    assert msg.total_credit == 2
    assert msg.estimated_credit == 2
    assert msg.delivered_count == 2
    assert msg.sent_at is not None
    assert msg.provider_uuid
    assert set(msg.recipients.values_list("phone", "status")) == {
        ("66812345678", "success"),
        ("66912345678", "success"),
    }


def test_a_single_string_recipient(sms_outbox: list[Any]) -> None:
    send_sms("Hi", "0812345678", origin="OTHER")
    assert sms_outbox[0].recipients == ["66812345678"]
    assert sms_outbox[0].origin == "OTHER"


def test_invalid_numbers_record_and_send_nothing(sms_outbox: list[Any]) -> None:
    with pytest.raises(ValidationError) as info:
        send_sms("Hello", ["0812345678", "12345", "021234567"])
    assert [(e.params or {}).get("value") for e in info.value.error_list] == ["12345", "021234567"]
    assert "12345" in str(info.value.messages)
    assert Message.objects.count() == 0
    assert sms_outbox == []


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("", ["0812345678"]), "empty_message"),
        (("x" * 2001, ["0812345678"]), "message_too_long"),
        (("Hi", []), "no_recipients"),
    ],
)
def test_other_invalid_input(args: tuple[str, list[str]], code: str) -> None:
    with pytest.raises(ValidationError) as info:
        send_sms(*args)
    assert info.value.error_list[0].code == code
    assert Message.objects.count() == 0


def test_naive_scheduled_time_is_refused() -> None:
    with pytest.raises(ValidationError):
        send_sms("Hi", ["0812345678"], scheduled_at=dt.datetime(2030, 1, 1, 9, 0))
    assert Message.objects.count() == 0


def test_scheduled_time_and_variables_pass_through(sms_outbox: list[Any]) -> None:
    when = timezone.now() + dt.timedelta(days=1)
    msg = send_sms(
        "Hi {name}, ลด {pct}%",
        ["0812345678", "0912345678"],
        scheduled_at=when,
        variables={"+66812345678": {"name": "Somchai", "pct": 10}},
    )
    assert [(m.recipients, m.message, m.scheduled_at) for m in sms_outbox] == [
        (["66812345678"], "Hi Somchai, ลด 10%", when),
        (["66912345678"], "Hi {name}, ลด {pct}%", when),
    ]
    assert msg.variables == {"66812345678": {"name": "Somchai", "pct": 10}}
    assert msg.recipients.get(phone="66812345678").variables == {"name": "Somchai", "pct": 10}


def test_variables_for_a_stranger_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a recipient"):
        send_sms("Hi {name}", ["0812345678"], variables={"0912345678": {"name": "x"}})
    with pytest.raises(ValidationError, match="mapping"):
        send_sms("Hi {name}", ["0812345678"], variables={"0812345678": "x"})  # type: ignore[dict-item]
    assert Message.objects.count() == 0


def test_missing_origin_is_a_configuration_error() -> None:
    with override_settings(SEPSMS={"BACKEND": "django_sepsms.backends.dummy.DummyBackend"}):
        with pytest.raises(ConfigurationError):
            send_sms("Hi", ["0812345678"])
        with pytest.raises(ConfigurationError):
            send_sms("Hi", ["0812345678"], fail_silently=True)


def test_thai_text_credit_estimate(sms_outbox: list[Any]) -> None:
    msg = send_sms("ก" * 71, ["0812345678", "0912345678"])
    assert msg.estimated_credit == 4
    assert msg.total_credit == 4


def test_batches_of_batch_size(scripted: type[ScriptedBackend], sms_outbox: list[Any]) -> None:
    phones = [f"08123456{i:02d}" for i in range(25)]
    with override_settings(
        SEPSMS={"BACKEND": SCRIPTED, "ORIGIN": "X", "SEND_CONCURRENCY": 1, "BATCH_SIZE": 10}
    ):
        msg = send_sms("Hi", phones)
    assert [len(c.recipients) for c in scripted.calls] == [10, 10, 5]
    assert list(msg.batches.values_list("position", "recipient_count")) == [
        (0, 10),
        (1, 10),
        (2, 5),
    ]
    assert MessageBatch.objects.filter(provider_uuid__isnull=False).count() == 3
    assert not Recipient.objects.filter(batch__isnull=True).exists()
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED
    assert msg.total_credit == 25


def test_failure_is_recorded_and_raised(scripted: type[ScriptedBackend]) -> None:
    scripted.script = [
        InsufficientCreditError("no credit", status=402, code="credit.insufficient")
    ]
    with pytest.raises(InsufficientCreditError):
        send_sms("Hi", ["0812345678"])
    msg = Message.objects.get()
    assert msg.status == Message.Status.FAILED
    assert msg.error_code == "credit.insufficient"
    assert msg.failed_count == 1
    assert msg.recipients.get().status == Recipient.Status.FAILED
    assert msg.recipients.get().error_code == "credit.insufficient"


def test_failure_fail_silently(scripted: type[ScriptedBackend]) -> None:
    scripted.script = [InsufficientCreditError("no credit", code="credit.insufficient")]
    msg = send_sms("Hi", ["0812345678"], fail_silently=True)
    assert msg.status == Message.Status.FAILED


def test_failure_midway_fails_the_rest_without_sending(scripted: type[ScriptedBackend]) -> None:
    scripted.script = [None, InsufficientCreditError("no credit", code="credit.insufficient")]
    with (
        override_settings(
            SEPSMS={"BACKEND": SCRIPTED, "ORIGIN": "X", "SEND_CONCURRENCY": 1, "BATCH_SIZE": 2}
        ),
        pytest.raises(InsufficientCreditError),
    ):
        send_sms("Hi", ["0812345601", "0812345602", "0812345603", "0812345604", "0812345605"])
    assert len(scripted.calls) == 2
    msg = Message.objects.get()
    assert msg.delivered_count == 2
    assert msg.failed_count == 3
    assert msg.status == Message.Status.COMPLETED  # the accepted part went out
    assert msg.error_code == "credit.insufficient"


def test_ambiguous_batch_is_unconfirmed_and_others_still_go(
    scripted: type[ScriptedBackend],
) -> None:
    scripted.script = [AmbiguousRequestError("timed out", code="network.ambiguous"), None]
    with override_settings(
        SEPSMS={"BACKEND": SCRIPTED, "ORIGIN": "X", "SEND_CONCURRENCY": 1, "BATCH_SIZE": 1}
    ):
        msg = send_sms("Hi", ["0812345601", "0812345602"], fail_silently=True)
    assert len(scripted.calls) == 2
    statuses = dict(msg.recipients.values_list("phone", "status"))
    assert statuses == {"66812345601": "unconfirmed", "66812345602": "success"}
    assert msg.batches.get(position=0).status == Message.Status.UNCONFIRMED


def test_all_ambiguous_makes_message_unconfirmed(scripted: type[ScriptedBackend]) -> None:
    scripted.script = [AmbiguousRequestError("timed out", code="network.ambiguous")]
    with pytest.raises(AmbiguousRequestError):
        send_sms("Hi", ["0812345601"])
    assert Message.objects.get().status == Message.Status.UNCONFIRMED


def test_message_sent_signal_once_per_send(
    scripted: type[ScriptedBackend], django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[tuple[int, Any]] = []

    def receiver(sender: Any, message: Message, error: Any, **kwargs: Any) -> None:
        seen.append((message.pk, error))

    message_sent.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            msg = send_sms("Hi", ["0812345601"])
            scripted.script = [InsufficientCreditError("no", code="credit.insufficient")]
            failed = send_sms("Hi", ["0812345601"], fail_silently=True)
    finally:
        message_sent.disconnect(receiver)
    assert [pk for pk, _ in seen] == [msg.pk, failed.pk]
    assert seen[0][1] is None
    assert isinstance(seen[1][1], InsufficientCreditError)


def test_query_count_is_independent_of_recipient_count(sms_outbox: list[Any]) -> None:
    def queries(count: int) -> list[str]:
        with CaptureQueriesContext(connection) as ctx:
            send_sms("Hi", [f"08123{i:05d}" for i in range(count)])
        return [q["sql"] for q in ctx.captured_queries]

    # One write for all the recipients of a batch, whatever their number.
    small, large = queries(5), queries(900)
    assert len(small) == len(large) <= 17


def test_get_backend() -> None:
    assert isinstance(get_backend(), LocmemBackend)
    assert isinstance(get_backend("django_sepsms.backends.dummy.DummyBackend"), DummyBackend)
    backend = get_backend("django_sepsms.backends.console.ConsoleBackend", fail_silently=True)
    assert isinstance(backend, ConsoleBackend)
    assert backend.fail_silently
    with pytest.raises(ConfigurationError, match=r"nowhere\.Backend"):
        get_backend("nowhere.Backend")


def test_console_backend_writes_each_sms() -> None:
    stream = StringIO()
    with override_settings(SEPSMS={"ORIGIN": "SHOP"}):
        send_sms("สวัสดี", ["0812345678"], backend=ConsoleBackend(stream=stream))
    out = stream.getvalue()
    assert "SMS from SHOP to 66812345678" in out
    assert "สวัสดี" in out


def test_dummy_backend_reports_success() -> None:
    msg = send_sms("Hi", ["0812345678"], backend=DummyBackend())
    assert msg.status == Message.Status.COMPLETED
    assert django_sepsms.outbox == []


def test_local_backends_answer_every_operation() -> None:
    with LocmemBackend() as backend:
        assert backend.get_balance() == 1_000_000
        assert backend.get_message_status("u").status == "completed"
        assert list(backend.iter_recipient_statuses("u")) == []
        backend.cancel_message("u")  # answers nothing, raises nothing
        assert backend.send_messages([]) == 0


def test_get_balance() -> None:
    assert django_sepsms.get_balance() == 1_000_000


def test_str_shows_no_text_or_number(sms_outbox: list[Any]) -> None:
    msg = send_sms("secret text", ["0812345678"])
    assert "secret" not in str(msg)
    recipient = msg.recipients.get()
    assert "0812345678" not in str(recipient)
    assert "0xx-xxx-xx78" in str(recipient)
    assert str(msg.batches.get()).startswith(f"#{msg.pk}/0")


def test_unknown_attribute_of_package() -> None:
    with pytest.raises(AttributeError):
        django_sepsms.nothing


def test_a_crashing_backend_leaves_the_batch_unconfirmed(
    scripted: type[ScriptedBackend],
) -> None:
    scripted.script = [RuntimeError("bug in a custom backend")]
    with pytest.raises(RuntimeError):
        send_sms("Hi", ["0812345678"])
    batch = MessageBatch.objects.get()
    assert batch.status == Message.Status.UNCONFIRMED
    assert batch.error_code == "backend.crashed"
    assert Recipient.objects.get().status == Recipient.Status.UNCONFIRMED


def test_redelivery_sends_nothing_twice(scripted: type[ScriptedBackend]) -> None:
    from django_sepsms.sending import deliver_message

    msg = send_sms("Hi", ["0812345678"])
    deliver_message(msg)
    assert len(scripted.calls) == 1


def test_abandoned_batches_become_unconfirmed() -> None:
    from datetime import timedelta

    from django_sepsms.sending import prepare_message, record_message
    from django_sepsms.sending.recovery import recover_abandoned_batches

    msg = record_message(prepare_message("Hi", ["0812345678"]))
    MessageBatch.objects.update(status=Message.Status.SENDING, sent_at=timezone.now())
    assert recover_abandoned_batches() == 0  # too recent: maybe still in flight
    MessageBatch.objects.update(sent_at=timezone.now() - timedelta(hours=1))
    assert recover_abandoned_batches() == 1
    msg.refresh_from_db()
    assert msg.status == Message.Status.UNCONFIRMED
    assert Recipient.objects.get().status == Recipient.Status.UNCONFIRMED


def test_next_request_goes_out_while_an_answer_is_recorded(monkeypatch: Any) -> None:
    second_started = threading.Event()

    class Backend(LocmemBackend):
        def send_message(self, sms: OutgoingSms) -> SendResult:
            if sms.recipients == ["66812345679"]:
                second_started.set()
            return super().send_message(sms)

    overlapped: list[bool] = []
    record = outcomes.record_batch_result

    def record_first_after_second_started(batch: MessageBatch, result: SendResult) -> None:
        if batch.position == 0:
            overlapped.append(second_started.wait(2))
        record(batch, result)

    monkeypatch.setattr(outcomes, "record_batch_result", record_first_after_second_started)
    with override_settings(SEPSMS={"ORIGIN": "X", "BATCH_SIZE": 1, "SEND_CONCURRENCY": 1}):
        msg = send_sms("Hi", ["0812345678", "0812345679"], backend=Backend())
    assert overlapped == [True]
    assert msg.status == Message.Status.COMPLETED
    assert list(msg.batches.values_list("status", flat=True)) == [Message.Status.COMPLETED] * 2


def test_a_database_error_mid_send_still_records_the_answers_in_flight(
    monkeypatch: Any, sms_outbox: list[Any]
) -> None:
    from django.db import OperationalError

    class Threaded(LocmemBackend):
        thread_safe_sends = True

    claim = deliver._claim
    calls: list[int] = []

    def claim_then_fail(batch: MessageBatch) -> bool:
        calls.append(batch.pk)
        if len(calls) == 3:
            raise OperationalError("database is locked")
        return claim(batch)

    monkeypatch.setattr(deliver, "_claim", claim_then_fail)
    with (
        override_settings(SEPSMS={"ORIGIN": "X", "BATCH_SIZE": 1, "SEND_CONCURRENCY": 2}),
        pytest.raises(OperationalError),
    ):
        msg = send_sms(
            "Hi", ["0812345678", "0912345678", "0612345678", "0622345678"], backend=Threaded()
        )
    msg = Message.objects.get()
    statuses = list(msg.batches.order_by("position").values_list("status", flat=True))
    assert len(sms_outbox) == 2  # the two requests that went out...
    assert statuses[:2] == [Message.Status.COMPLETED] * 2  # ...are both on record
    assert statuses[2:] == [Message.Status.QUEUED] * 2


def test_errors_about_a_recipient_name_it_as_people_read_it(sms_outbox: list[Any]) -> None:
    with pytest.raises(ValidationError) as info:
        send_sms("Hi {name}", ["0812345678"], variables={"0912345678": {"name": "Malee"}})
    assert info.value.messages == [
        "Variables are given for 091-234-5678, which is not a recipient."
    ]
