"""The receiver under real traffic: the simulator posting to a live server, threads, fuzzing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_sepsms import send_otp, send_sms
from django_sepsms.backends.base import OtpSendResult
from django_sepsms.backends.sepsms import SepsmsBackend
from django_sepsms.models import Message, MessageBatch, Recipient, WebhookEvent
from django_sepsms.simulator import Simulator
from django_sepsms.testing import sign_webhook, webhook_body
from django_sepsms.webhooks.signature import compute_signature
from tests.helpers import http_settings

SECRET = "whsec_test_current"
URL = "/sepsms/webhook/"


@pytest.fixture
def wired(simulator: Simulator, live_server: Any) -> Iterator[Simulator]:
    """The simulator delivering webhooks to this site, duplicated and reversed."""
    simulator.reset()
    simulator.rate_limits_enabled = False
    simulator.webhook_url = live_server.url + URL
    simulator.webhook_secrets = [SECRET]
    simulator.webhook_duplicates = True
    simulator.webhook_reverse = True
    # Reports go out when a test calls deliver_now(), not while it is still sending.
    simulator.delivery_delay = 3600
    with override_settings(SEPSMS=http_settings(simulator)):
        yield simulator
    simulator.webhook_url = None
    simulator.webhook_duplicates = False
    simulator.webhook_reverse = False


@pytest.mark.django_db(transaction=True)
def test_simulator_webhooks_leave_the_right_final_state(wired: Simulator) -> None:
    wired.failing_numbers = {"66912345678"}
    msg = send_sms("Hi", ["0812345678", "0912345678", "0612345678"])
    wired.deliver_now(msg.batches.get().provider_uuid)
    assert wired.wait_for_webhooks(timeout=10)
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED
    assert (msg.delivered_count, msg.failed_count) == (2, 1)
    assert dict(msg.recipients.values_list("phone", "status")) == {
        "66812345678": "success",
        "66912345678": "failed",
        "66612345678": "success",
    }
    assert all(msg.recipients.values_list("tx_id", flat=True))
    # Every delivery arrived twice and was stored once.
    assert all(outcome == 200 for _, _, outcome in wired.webhook_log)
    assert len(wired.webhook_log) == 2 * WebhookEvent.objects.count()
    assert WebhookEvent.objects.count() == 5  # sms.sent, three dr.*, sms.completed


@pytest.mark.django_db(transaction=True)
def test_reports_that_beat_the_timeout_reconcile_at_once(wired: Simulator) -> None:
    wired.webhook_reverse = False
    wired.delivery_delay = 0
    wired.delay_next("/message/send", seconds=1.0, process=True)
    msg = send_sms("Hi", ["0812345678"], backend=SepsmsBackend(timeout=0.3), fail_silently=True)
    assert msg.status == Message.Status.COMPLETED
    assert msg.batches.get().provider_uuid == next(iter(wired.messages))
    assert msg.recipients.get().status == Recipient.Status.SUCCESS


@pytest.mark.django_db(transaction=True)
def test_a_timed_out_send_is_reconciled_by_its_webhooks(wired: Simulator) -> None:
    wired.webhook_reverse = False
    wired.delay_next("/message/send", seconds=1.0, process=True)
    msg = send_sms("Hi", ["0812345678"], backend=SepsmsBackend(timeout=0.3), fail_silently=True)
    assert msg.status == Message.Status.UNCONFIRMED
    (uuid,) = wired.messages
    wired.deliver_now(uuid)
    assert wired.wait_for_webhooks(timeout=10)
    msg.refresh_from_db()
    batch = msg.batches.get()
    assert batch.provider_uuid == uuid
    assert msg.status == Message.Status.COMPLETED
    assert msg.recipients.get().status == Recipient.Status.SUCCESS
    assert len(wired.messages) == 1  # never sent twice


@pytest.mark.django_db(transaction=True)
def test_sync_reconciles_from_reports_that_arrived_first(wired: Simulator) -> None:
    """A report for the unknown uuid is kept; sepsms_sync then matches it to the send."""
    from django.core.management import call_command

    wired.webhook_url = None
    wired.delay_next("/message/send", seconds=1.0, process=True)
    msg = send_sms("Hi", ["0812345678"], backend=SepsmsBackend(timeout=0.3), fail_silently=True)
    assert msg.status == Message.Status.UNCONFIRMED
    (uuid,) = wired.messages
    wired.deliver_now(uuid)
    # The report was stored as waiting (it named a uuid nobody knew yet).
    WebhookEvent.objects.create(
        event="dr.success",
        dedupe_key="dr.success:t2",
        signed_at=msg.created_at,
        payload={"smsUuid": uuid, "msisdn": "66812345678", "txId": "t2", "status": "success"},
        outcome=WebhookEvent.Outcome.WAITING,
        sms_uuid=uuid,
        msisdn="66812345678",
    )
    out = StringIO()
    call_command("sepsms_sync", stdout=out)
    assert "Unconfirmed" not in out.getvalue()
    msg.refresh_from_db()
    assert msg.batches.get().provider_uuid == uuid
    assert msg.recipients.get().status == Recipient.Status.SUCCESS
    assert msg.status == Message.Status.COMPLETED


def _post_report(uuid: str, msisdn: str, tx_id: str, status: str = "success") -> Any:
    """POST a signed ``dr.*`` report, as the provider would."""
    body = webhook_body({"smsUuid": uuid, "msisdn": msisdn, "txId": tx_id, "status": status})
    headers = sign_webhook(body, SECRET, event=f"dr.{status}")
    return Client().post(URL, body, content_type="application/json", **headers)


def _otp_tx_id(sim: Simulator, reference: str) -> str:
    return next(e.tx_id for e in sim.inbox if e.otp_reference == reference)


@pytest.mark.django_db(transaction=True)
def test_a_codes_report_is_never_taken_by_a_timed_out_send(sim: Simulator) -> None:
    """The provider reports on its own codes too: such a report names no batch of ours."""
    from django.core.management import call_command

    sim.delivery_delay = 3600
    sim.delay_next("/message/send", seconds=1.0, process=True)
    msg = send_sms("Hi", ["0812345678"], backend=SepsmsBackend(timeout=0.3), fail_silently=True)
    assert msg.status == Message.Status.UNCONFIRMED
    challenge = send_otp("0812345678")
    assert challenge.provider_uuid

    response = _post_report(
        challenge.provider_uuid, "66812345678", _otp_tx_id(sim, challenge.reference)
    )
    assert response.json() == {"status": "ok"}
    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.STORED
    call_command("sepsms_sync", stdout=StringIO())
    batch = msg.batches.get()
    assert (batch.provider_uuid, batch.status) == (None, Message.Status.UNCONFIRMED)
    assert msg.recipients.get().status == Recipient.Status.UNCONFIRMED
    msg.refresh_from_db()
    assert msg.delivered_count == 0

    # The send's own report still resolves it.
    (uuid,) = sim.messages
    tx_id = sim.messages[uuid].recipients[0].tx_id
    assert _post_report(uuid, "66812345678", tx_id).json() == {"status": "ok"}
    assert msg.batches.get().provider_uuid == uuid
    assert msg.recipients.get().status == Recipient.Status.SUCCESS


@pytest.mark.django_db(transaction=True)
def test_a_codes_report_waiting_from_before_is_not_taken_by_sync(sim: Simulator) -> None:
    from django_sepsms.tracking.events import resolve_unconfirmed

    sim.delivery_delay = 3600
    sim.delay_next("/message/send", seconds=1.0, process=True)
    msg = send_sms("Hi", ["0812345678"], backend=SepsmsBackend(timeout=0.3), fail_silently=True)
    challenge = send_otp("0812345678")
    # A report stored as waiting before the code's uuid was recorded.
    WebhookEvent.objects.create(
        event="dr.success",
        dedupe_key="early",
        signed_at=msg.created_at,
        payload={"smsUuid": challenge.provider_uuid, "msisdn": "66812345678", "txId": "t"},
        outcome=WebhookEvent.Outcome.WAITING,
        sms_uuid=challenge.provider_uuid,
        msisdn="66812345678",
    )
    assert not resolve_unconfirmed(msg.batches.get())
    assert msg.batches.get().provider_uuid is None


class _ReportFirstBackend(SepsmsBackend):
    """The HTTP backend, with a code's delivery report arriving before its answer is recorded."""

    def send_otp(
        self, phone: str, *, origin: str, template: str, ttl: int, code_length: int
    ) -> OtpSendResult:
        result = super().send_otp(
            phone, origin=origin, template=template, ttl=ttl, code_length=code_length
        )
        response = _post_report(result.uuid, result.destination, "tx-otp")
        assert response.json() == {"status": "ok"}
        assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.WAITING
        return result


@pytest.mark.django_db(transaction=True)
def test_a_codes_report_that_came_first_does_not_wait_forever(sim: Simulator) -> None:
    challenge = send_otp("0812345678", backend=_ReportFirstBackend())
    event = WebhookEvent.objects.get()
    assert event.sms_uuid == challenge.provider_uuid
    assert event.outcome == WebhookEvent.Outcome.STORED


@pytest.mark.django_db(transaction=True)
def test_a_codes_early_report_is_not_taken_by_a_timed_out_send(sim: Simulator) -> None:
    """The report beats the code's answer while a send to the same number is unconfirmed."""
    sim.delay_next("/message/send", seconds=1.0, process=True)
    msg = send_sms("Hi", ["0812345678"], backend=SepsmsBackend(timeout=0.3), fail_silently=True)
    assert msg.status == Message.Status.UNCONFIRMED
    challenge = send_otp("0812345678", backend=_ReportFirstBackend())
    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.STORED
    batch = msg.batches.get()
    assert (batch.provider_uuid, batch.status) == (None, Message.Status.UNCONFIRMED)
    assert challenge.provider_uuid not in set(
        MessageBatch.objects.values_list("provider_uuid", flat=True)
    )


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_keep_counts_exact(sms_outbox: list[Any]) -> None:
    if not _is_postgres():
        pytest.skip("row locks under concurrency are tested on PostgreSQL (CI runs it)")
    from tests.backends import FixedUuidBackend

    FixedUuidBackend.next_uuid = "sms-conc"
    phones = [f"08123{i:05d}" for i in range(40)]
    with override_settings(
        SEPSMS={
            "BACKEND": "tests.backends.FixedUuidBackend",
            "ORIGIN": "X",
            "WEBHOOK_SECRETS": [SECRET],
        }
    ):
        msg = send_sms("Hi", phones)
        jobs = []
        for i, phone in enumerate(phones):
            status = "failed" if i % 4 == 0 else "success"
            payload = {
                "smsUuid": "sms-conc",
                "msisdn": "66" + phone[1:],
                "txId": f"t{i}",
                "status": status,
            }
            jobs += [(f"dr.{status}", payload)] * 3  # each report delivered three times
        results: list[int] = []
        lock = threading.Lock()

        def worker(chunk: list[tuple[str, dict[str, Any]]]) -> None:
            client = Client()
            try:
                for event, payload in chunk:
                    body = webhook_body(payload)
                    code = client.post(
                        URL,
                        body,
                        content_type="application/json",
                        **sign_webhook(body, SECRET, event=event),
                    ).status_code
                    with lock:
                        results.append(code)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker, args=(jobs[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results.count(200) == len(jobs)
    msg.refresh_from_db()
    assert (msg.delivered_count, msg.failed_count) == (30, 10)
    assert Recipient.objects.filter(status="success").count() == 30
    assert WebhookEvent.objects.count() == 40


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "HTTP_X_WEBHOOK_SIGNATURE",
                "HTTP_X_WEBHOOK_TIMESTAMP",
                "HTTP_X_WEBHOOK_EVENT",
                "CONTENT_TYPE",
                "HTTP_X_OTHER",
            ]
        ),
        st.text(max_size=80).filter(lambda v: "\n" not in v and "\r" not in v),
    ),
    body=st.binary(max_size=300),
)
def test_random_deliveries_never_fail_or_change_anything(
    headers: dict[str, Any], body: bytes
) -> None:
    response = Client().generic("POST", URL, body, **headers)
    assert response.status_code in {400, 413}
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=300), event=st.text(min_size=1, max_size=70))
def test_genuine_random_bodies_never_give_a_5xx(body: bytes, event: str) -> None:
    import time

    t = int(time.time())
    response = Client().generic(
        "POST",
        URL,
        body,
        HTTP_X_WEBHOOK_SIGNATURE=f"t={t},v1={compute_signature(SECRET, t, body)}",
        HTTP_X_WEBHOOK_EVENT=event.replace("\n", " ").replace("\r", " "),
    )
    assert response.status_code in {200, 400}
