"""Message status and counts under concurrent webhooks and sends, on PostgreSQL.

Each case is played by threads of this process (each with its own database
connection) and by several processes, so the requests really overlap. Where a
race has a narrow window, a second connection holds the message row while the
requests pile up behind it (they are released together once every one of them
is waiting), so the window is wide open on every run.
"""

from __future__ import annotations

import gc
import io
import json
import random
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client, override_settings
from django.urls import reverse

from django_sepsms import send_sms
from django_sepsms.backends.base import OutgoingSms, SendResult
from django_sepsms.backends.locmem import LocmemBackend
from django_sepsms.models import Message, MessageBatch, Recipient, WebhookEvent
from django_sepsms.signals import delivery_status_changed, webhook_received
from django_sepsms.simulator import Simulator
from django_sepsms.testing import sign_webhook, webhook_body
from tests.backends.test_throttle import run_in_processes

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_test_current"
URL = "/sepsms/webhook/"
M = Message.Status

Job = tuple[str, dict[str, Any]]


class PendingBackend(LocmemBackend):
    """Accepts each batch with a uuid of its own, not delivered yet.

    While ``gate`` is set to an unset event, the sends after the first wait for it.
    """

    gate: ClassVar[threading.Event | None] = None
    sent: ClassVar[int] = 0

    def send_message(self, sms: OutgoingSms) -> SendResult:
        self.deliver(sms)
        type(self).sent += 1
        gate = type(self).gate
        if gate is not None and type(self).sent > 1:
            gate.wait(30)
        return SendResult(uuid=str(uuid.uuid4()), total_msisdn=len(sms.recipients))


def pending_settings(**extra: Any) -> Any:
    PendingBackend.gate, PendingBackend.sent = None, 0
    return override_settings(
        SEPSMS={
            "BACKEND": f"{__name__}.PendingBackend",
            "ORIGIN": "TESTSHOP",
            "WEBHOOK_SECRETS": [SECRET],
            "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
            **extra,
        }
    )


def phones(count: int) -> list[str]:
    return [f"0812{i:06d}" for i in range(count)]


def international(phone: str) -> str:
    return "66" + phone[1:]


@pytest.fixture
def postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are exercised on PostgreSQL (the CI runs it)")
    # Connections that earlier tests' server threads (live server, ASGI) left to the garbage
    # collector would otherwise be collected, and warned about, in the middle of this test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


# -- delivering webhooks from many threads or processes at once ----------------------------


def _barrier(name: str, total: int) -> None:
    """Wait until ``total`` callers, in any thread or process, have arrived."""
    cache.incr(name)
    deadline = time.monotonic() + 30
    while int(cache.get(name) or 0) < total and time.monotonic() < deadline:
        time.sleep(0.002)


def _post(client: Client, event: str, payload: dict[str, Any]) -> int:
    body = webhook_body(payload)
    headers = sign_webhook(body, SECRET, event=event)
    status: int = client.post(URL, body, content_type="application/json", **headers).status_code
    return status


def _close_thread_resources() -> None:
    connection.close()
    for pool in caches["default"]._cache._pools.values():  # type: ignore[attr-defined]
        pool.disconnect()


# Run in each process by run_in_processes(): argv[1] holds the jobs, the barrier and
# counter names, and how many threads to use. Prints how many answers were 200.
_PROCESS_BODY = """
    import json, threading, time
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from tests.test_concurrency_pg import _barrier, _close_thread_resources, _post

    spec = json.loads(sys.argv[1])
    ok = []
    def run(chunk):
        client = Client()
        try:
            _barrier(spec["barrier"], spec["total"])
            for event, payload in chunk:
                ok.append(_post(client, event, payload) == 200)
                cache.incr(spec["done"])
        finally:
            _close_thread_resources()
    threads = [threading.Thread(target=run, args=(spec["jobs"][i::spec["threads"]],))
               for i in range(spec["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(sum(ok))
    """


class Delivery:
    """Jobs posted to the webhook, all at once, by threads here or by other processes."""

    def __init__(self, jobs: list[Job], mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.jobs = jobs
        tag = uuid.uuid4().hex
        self.barrier, self.done = f"conc:barrier:{tag}", f"conc:done:{tag}"
        cache.set(self.barrier, 0, 120)
        cache.set(self.done, 0, 120)
        self.ok: list[bool] = []
        self._threads: list[threading.Thread] = []
        if mode == "threads":
            workers = min(20, len(jobs))
            for i in range(workers):
                self._start(self._thread, jobs[i::workers], workers)
        else:
            processes, per_process = 4, min(5, -(-len(jobs) // 4))
            db = connection.settings_dict
            monkeypatch.setenv(
                "DATABASE_URL",
                f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            )
            for i in range(processes):
                spec = {
                    "jobs": jobs[i::processes],
                    "threads": per_process,
                    "barrier": self.barrier,
                    "done": self.done,
                    "total": processes * per_process,
                }
                self._start(self._process, spec)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args)
        thread.start()
        self._threads.append(thread)

    def _thread(self, chunk: list[Job], total: int) -> None:
        client = Client()
        try:
            _barrier(self.barrier, total)
            for event, payload in chunk:
                self.ok.append(_post(client, event, payload) == 200)
                cache.incr(self.done)
        finally:
            _close_thread_resources()

    def _process(self, spec: dict[str, Any]) -> None:
        ok = run_in_processes(_PROCESS_BODY, 1, json.dumps(spec))[0]
        self.ok += [True] * ok + [False] * (len(spec["jobs"]) - ok)

    def finished(self) -> int:
        return int(cache.get(self.done) or 0)

    def join(self) -> int:
        """Wait for every job; return how many were answered 200."""
        for thread in self._threads:
            thread.join(90)
        return sum(self.ok)


def _waiting_on_locks() -> int:
    """Connections to this test database that wait for a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = cursor.fetchone()
    return int(row[0])


def _wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the requests never got there"
        time.sleep(0.01)


@contextmanager
def holding_message_row(msg: Message) -> Iterator[None]:
    """Lock ``msg``'s row from another connection until the block ends, like a slow
    transaction that has just written to it."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                f"SELECT id FROM {Message._meta.db_table} WHERE id = %s FOR UPDATE",
                [msg.pk],
            )
            try:
                yield
            finally:
                cursor.execute("COMMIT")
    finally:
        other.close()


@pytest.fixture
def signals() -> Iterator[dict[str, int]]:
    counts = {"received": 0, "status": 0}
    lock = threading.Lock()

    def received(**kwargs: Any) -> None:
        with lock:
            counts["received"] += 1

    def status(**kwargs: Any) -> None:
        with lock:
            counts["status"] += 1

    webhook_received.connect(received, dispatch_uid="conc-received")
    delivery_status_changed.connect(status, dispatch_uid="conc-status")
    yield counts
    webhook_received.disconnect(dispatch_uid="conc-received")
    delivery_status_changed.disconnect(dispatch_uid="conc-status")


# -- the cases ------------------------------------------------------------------------------


def _processing_message(batches: int) -> Message:
    """A message of ``batches`` batches of one number, all sent and processing."""
    with pending_settings(BATCH_SIZE=1):
        msg = send_sms("Hi", phones(batches))
    MessageBatch.objects.filter(message=msg).update(status=M.PROCESSING)
    Message.objects.filter(pk=msg.pk).update(status=M.PROCESSING)
    return msg


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_every_batch_completing_at_once_completes_the_message(
    postgres: None, mode: str, monkeypatch: pytest.MonkeyPatch, signals: dict[str, int]
) -> None:
    msg = _processing_message(20)
    uuids = list(msg.batches.values_list("provider_uuid", flat=True))
    jobs: list[Job] = [("sms.completed", {"smsUuid": u, "status": "completed"}) for u in uuids]
    with pending_settings(), holding_message_row(msg):
        delivery = Delivery(jobs, mode, monkeypatch)
        # Every report has marked its batch and waits for the message (or is done).
        _wait_until(lambda: _waiting_on_locks() + delivery.finished() >= len(jobs))
    assert delivery.join() == 20
    msg.refresh_from_db()
    assert msg.status == M.COMPLETED
    assert set(msg.batches.values_list("status", flat=True)) == {M.COMPLETED}
    assert WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.APPLIED).count() == 20
    assert WebhookEvent.objects.count() == 20
    if mode == "threads":
        assert signals["received"] == 20


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_reports_committed_while_a_send_sums_up_are_counted(
    postgres: None, mode: str, monkeypatch: pytest.MonkeyPatch, signals: dict[str, int]
) -> None:
    numbers = phones(20)
    sent: list[Message] = []
    with pending_settings(BATCH_SIZE=10):
        gate = PendingBackend.gate = threading.Event()

        def send() -> None:
            try:
                sent.append(send_sms("Hi", numbers))
            finally:
                _close_thread_resources()

        sender = threading.Thread(target=send)
        sender.start()
        try:
            # The first batch is answered and recorded; the second one is on the wire.
            _wait_until(lambda: MessageBatch.objects.filter(provider_uuid__isnull=False).exists())
            first = MessageBatch.objects.get(provider_uuid__isnull=False)
            msg = first.message
            jobs: list[Job] = [
                (
                    "dr.success",
                    {
                        "smsUuid": first.provider_uuid,
                        "msisdn": international(phone),
                        "txId": f"tx-{phone}",
                        "status": "success",
                    },
                )
                for phone in numbers[:10]
            ]
            with holding_message_row(msg):
                delivery = Delivery(jobs, mode, monkeypatch)
                _wait_until(lambda: _waiting_on_locks() + delivery.finished() >= len(jobs))
                gate.set()  # the send records its last answer and sums up the message
                _wait_until(lambda: _waiting_on_locks() + delivery.finished() >= len(jobs) + 1)
        finally:
            gate.set()
            sender.join(60)
    assert delivery.join() == 10
    assert [m.pk for m in sent] == [msg.pk]
    msg.refresh_from_db()
    assert Recipient.objects.filter(message=msg, status=Recipient.Status.SUCCESS).count() == 10
    assert (msg.delivered_count, msg.failed_count) == (10, 0)
    assert msg.status == M.PENDING
    assert WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.APPLIED).count() == 10
    if mode == "threads":
        assert signals == {"received": 10, "status": 10}


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_any_interleaving_of_reports_ends_exact(
    postgres: None, mode: str, monkeypatch: pytest.MonkeyPatch, signals: dict[str, int]
) -> None:
    """Reports for three batches, every one delivered twice, in a random order."""
    with pending_settings(BATCH_SIZE=10):
        msg = send_sms("Hi", phones(30))
    batches = list(msg.batches.order_by("position").values_list("provider_uuid", flat=True))
    jobs: list[Job] = []
    for position, batch_uuid in enumerate(batches):
        jobs.append(("sms.sent", {"smsUuid": batch_uuid, "status": "processing"}))
        jobs.append(("sms.completed", {"smsUuid": batch_uuid, "status": "completed"}))
        for phone in phones(30)[position * 10 : position * 10 + 10]:
            ok = int(phone[-1]) % 3 != 0
            jobs.append(
                (
                    "dr.success" if ok else "dr.failed",
                    {
                        "smsUuid": batch_uuid,
                        "msisdn": international(phone),
                        "txId": f"tx-{phone}",
                        "status": "success" if ok else "failed",
                    },
                )
            )
    distinct = len(jobs)
    delivered = sum(event == "dr.success" for event, _ in jobs)
    jobs *= 2
    random.shuffle(jobs)
    with pending_settings():
        delivery = Delivery(jobs, mode, monkeypatch)
        assert delivery.join() == len(jobs)
    msg.refresh_from_db()
    success = Recipient.objects.filter(message=msg, status=Recipient.Status.SUCCESS)
    assert success.count() == delivered
    assert (msg.delivered_count, msg.failed_count) == (delivered, 30 - delivered)
    assert msg.status == M.COMPLETED
    assert WebhookEvent.objects.count() == distinct
    if mode == "threads":
        assert signals == {"received": distinct, "status": 30}


def test_sync_repairs_a_message_whose_batches_are_all_final(sim: Simulator) -> None:
    """The state a lost race used to leave behind is put right without asking the provider."""
    with pending_settings(BATCH_SIZE=2):
        msg = send_sms("Hi", phones(6))
    MessageBatch.objects.filter(message=msg).update(status=M.COMPLETED)
    Recipient.objects.filter(message=msg).update(status=Recipient.Status.SUCCESS)
    Recipient.objects.filter(message=msg, phone=international(phones(6)[0])).update(
        status=Recipient.Status.FAILED
    )
    Message.objects.filter(pk=msg.pk).update(status=M.PROCESSING, delivered_count=1)
    before = len(sim.requests)
    out = io.StringIO()
    call_command("sepsms_sync", stdout=out)
    msg.refresh_from_db()
    assert msg.status == M.COMPLETED
    assert (msg.delivered_count, msg.failed_count) == (5, 1)
    assert len(sim.requests) == before
    assert f"1 message(s) whose batches were all final settled: #{msg.pk}" in out.getvalue()


# -- wrong codes for one number, checked at once ------------------------------------------


def _ask_code(number: str, outbox: list[Any]) -> dict[str, str]:
    response = Client().post(
        reverse("sepsms:api-otp"), {"phone": number}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body: dict[str, str] = response.json()
    match = re.search(r"\b(\d{6,8})\b", outbox[-1].message)
    assert match
    body["code"] = match.group(1)
    body["wrong"] = f"{(int(body['code']) + 1) % 10 ** len(body['code']):0{len(body['code'])}d}"
    return body


def _check_code(client: Client, sent: dict[str, str], pin: str) -> int:
    body = {"reference": sent["reference"], "pin": pin, "flow_token": sent["flow_token"]}
    status: int = client.post(
        reverse("sepsms:api-otp-verify"), body, content_type="application/json"
    ).status_code
    return status


# Each process checks argv[1]'s code from several threads; prints 400s + 100 * 429s.
_GUESS_BODY = """
    import json, threading
    from django.test import Client
    from tests.test_concurrency_pg import _barrier, _check_code, _close_thread_resources

    spec = json.loads(sys.argv[1])
    answers = []
    def run():
        try:
            _barrier(spec["barrier"], spec["total"])
            answers.append(_check_code(Client(), spec["sent"], spec["sent"]["wrong"]))
        finally:
            _close_thread_resources()
    threads = [threading.Thread(target=run) for _ in range(spec["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(answers.count(400) + 100 * answers.count(429))
    """


def _guess_at_once(sent: dict[str, str], mode: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Twenty wrong codes for one number, checked at the same moment."""
    barrier = f"conc:barrier:{uuid.uuid4().hex}"
    cache.set(barrier, 0, 120)
    if mode == "processes":
        db = connection.settings_dict
        monkeypatch.setenv(
            "DATABASE_URL", f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
        spec = json.dumps({"sent": sent, "threads": 5, "barrier": barrier, "total": 20})
        packed = run_in_processes(_GUESS_BODY, 4, spec)
        return [400] * sum(p % 100 for p in packed) + [429] * sum(p // 100 for p in packed)
    answers: list[int] = []

    def run() -> None:
        try:
            _barrier(barrier, 20)
            answers.append(_check_code(Client(), sent, sent["wrong"]))
        finally:
            _close_thread_resources()

    threads = [threading.Thread(target=run) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_wrong_codes_checked_at_once_stop_at_the_number_limit(
    postgres: None, mode: str, monkeypatch: pytest.MonkeyPatch, sms_outbox: list[Any]
) -> None:
    """``otp_verify_phone`` is 10/h: of 20 wrong codes at once, exactly 10 are checked."""
    sent = _ask_code("0812345678", sms_outbox)
    answers = _guess_at_once(sent, mode, monkeypatch)
    assert sorted(answers) == [400] * 10 + [429] * 10
    # The number is locked out now, even for its right code.
    assert _check_code(Client(), sent, sent["code"]) == 429


def test_right_codes_do_not_use_up_the_number_limit(sms_outbox: list[Any]) -> None:
    with override_settings(
        SEPSMS={
            "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
            "ORIGIN": "TESTSHOP",
            "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
            "OTP_RESEND_COOLDOWN": 0,
            "RATELIMITS": {"otp_verify_phone": "2/h", "otp_send_phone": "10/h"},
        }
    ):
        for _ in range(3):
            sent = _ask_code("0812345678", sms_outbox)
            assert _check_code(Client(), sent, sent["code"]) == 200
        sent = _ask_code("0812345678", sms_outbox)
        assert _check_code(Client(), sent, sent["wrong"]) == 400
        assert _check_code(Client(), sent, sent["wrong"]) == 400
        assert _check_code(Client(), sent, sent["code"]) == 429
