"""The signed webhook receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import Client, override_settings
from django.urls import reverse

from django_sepsms import send_otp, send_sms
from django_sepsms.models import Message, OtpChallenge, Recipient, WebhookEvent
from django_sepsms.signals import credit_low, delivery_status_changed, webhook_received
from django_sepsms.testing import sign_webhook, webhook_body
from django_sepsms.webhooks.signature import compute_signature
from tests.backends import FixedUuidBackend
from tests.twins import wsgi_and_asgi

pytestmark = pytest.mark.django_db

#: Every test here runs through the WSGI handler, then through the ASGI one.
handler, client = wsgi_and_asgi(globals())

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
URL = "/sepsms/webhook/"


@pytest.fixture
def fixed() -> Iterator[type[FixedUuidBackend]]:
    FixedUuidBackend.next_uuid = "sms-1"
    with override_settings(
        SEPSMS={
            "BACKEND": "tests.backends.FixedUuidBackend",
            "ORIGIN": "TESTSHOP",
            "WEBHOOK_SECRETS": [SECRET, OLD_SECRET],
        }
    ):
        yield FixedUuidBackend


def post(
    client: Client,
    payload: dict[str, Any] | bytes,
    event: str = "dr.success",
    secret: str = SECRET,
    timestamp: int | None = None,
    **extra: Any,
) -> Any:
    body = webhook_body(payload)
    headers = sign_webhook(body, secret, timestamp, event=event)
    headers.update(extra)
    return client.post(URL, body, content_type="application/json", **headers)


def dr(status: str = "success", msisdn: str = "66812345678", tx: str = "tx-1") -> dict[str, str]:
    return {"smsUuid": "sms-1", "msisdn": msisdn, "txId": tx, "status": status}


@pytest.fixture
def message(fixed: Any, sms_outbox: list[Any]) -> Message:
    return send_sms("Hi", ["0812345678", "0912345678"])


@pytest.fixture
def signals() -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    receivers: list[tuple[Any, Callable[..., None]]] = [
        (webhook_received, lambda sender, name, **kw: seen.append(("received", name))),
        (
            delivery_status_changed,
            lambda sender, new_status, **kw: seen.append(("status", new_status)),
        ),
        (credit_low, lambda sender, balance, **kw: seen.append(("credit_low", balance))),
    ]
    for signal, receiver in receivers:
        signal.connect(receiver)
    yield seen
    for signal, receiver in receivers:
        signal.disconnect(receiver)


def test_url_name() -> None:
    assert reverse("sepsms:webhook") == URL


def test_delivery_report_is_applied_once(
    client: Client, message: Message, signals: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, dr())
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    recipient = message.recipients.get(phone="66812345678")
    assert (recipient.status, recipient.tx_id) == (Recipient.Status.SUCCESS, "tx-1")
    event = WebhookEvent.objects.get()
    assert (event.event, event.outcome, event.sms_uuid) == ("dr.success", "applied", "sms-1")
    assert event.payload == dr()
    message.refresh_from_db()
    assert message.delivered_count == 1
    assert signals == [("status", "success"), ("received", "dr.success")]

    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, dr())
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1
    message.refresh_from_db()
    assert message.delivered_count == 1
    assert len(signals) == 2


def test_rotation_and_several_signatures(client: Client, message: Message) -> None:
    assert post(client, dr(), secret=OLD_SECRET).status_code == 200
    body = webhook_body(dr(tx="tx-2", msisdn="66912345678"))
    t = int(time.time())
    header = f"t={t},v0=abc,v1={'0' * 64},v1={compute_signature(SECRET, t, body)}"
    response = client.post(
        URL,
        body,
        content_type="application/json",
        HTTP_X_WEBHOOK_EVENT="dr.success",
        HTTP_X_WEBHOOK_SIGNATURE=header,
    )
    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 2


def test_a_single_secret_string_is_accepted(client: Client, message: Message) -> None:
    with override_settings(SEPSMS={"WEBHOOK_SECRETS": SECRET}):
        assert post(client, dr()).status_code == 200


def _refusals() -> dict[str, Callable[[Client], Any]]:
    body = webhook_body(dr())
    t = int(time.time())
    good = compute_signature(SECRET, t, body)

    def raw(**headers: Any) -> Callable[[Client], Any]:
        return lambda c: c.post(URL, body, content_type="application/json", **headers)

    event = {"HTTP_X_WEBHOOK_EVENT": "dr.success"}
    return {
        "missing signature": raw(**event),
        "malformed": raw(HTTP_X_WEBHOOK_SIGNATURE="garbage", **event),
        "no v1": raw(HTTP_X_WEBHOOK_SIGNATURE=f"t={t},v0={good}", **event),
        "no timestamp": raw(HTTP_X_WEBHOOK_SIGNATURE=f"v1={good}", **event),
        "bad mac": raw(HTTP_X_WEBHOOK_SIGNATURE=f"t={t},v1={'0' * 64}", **event),
        "wrong secret": lambda c: post(c, dr(), secret="whsec_attacker"),
        "stale": lambda c: post(c, dr(), timestamp=t - 301),
        "future": lambda c: post(c, dr(), timestamp=t + 301),
        "timestamp mismatch": lambda c: post(c, dr(), HTTP_X_WEBHOOK_TIMESTAMP=str(t - 1)),
        "body changed": raw(
            HTTP_X_WEBHOOK_SIGNATURE=f"t={t},v1={compute_signature(SECRET, t, body + b' ')}",
            **event,
        ),
        "no event": raw(HTTP_X_WEBHOOK_SIGNATURE=f"t={t},v1={good}"),
        "non-ascii signature": raw(HTTP_X_WEBHOOK_SIGNATURE=f"t={t},v1=ü{good}", **event),
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_every_refusal_looks_the_same_and_writes_nothing(
    client: Client, message: Message, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = _refusals()[case](client)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid webhook"}
    assert WebhookEvent.objects.count() == 0
    assert set(message.recipients.values_list("status", flat=True)) == {"pending"}
    assert "Webhook refused" in caplog.text
    assert SECRET not in caplog.text
    assert "tx-1" not in caplog.text


def test_tolerance_is_configurable(client: Client, message: Message) -> None:
    with override_settings(SEPSMS={"WEBHOOK_SECRETS": [SECRET], "WEBHOOK_TOLERANCE": 1000}):
        assert post(client, dr(), timestamp=int(time.time()) - 900).status_code == 200


def test_no_secret_configured_refuses_everything(client: Client, message: Message) -> None:
    with override_settings(SEPSMS={"WEBHOOK_SECRETS": []}):
        assert post(client, dr()).status_code == 400


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000])
def test_genuine_but_not_a_json_object(client: Client, body: bytes) -> None:
    with override_settings(SEPSMS={"WEBHOOK_SECRETS": [SECRET], "WEBHOOK_MAX_BODY_SIZE": 200_000}):
        response = post(client, body)
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_status_must_match_the_event(client: Client, message: Message) -> None:
    response = post(client, dr(status="success"), event="dr.failed")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.FAILED
    assert set(message.recipients.values_list("status", flat=True)) == {"pending"}


def test_unknown_events_are_stored(client: Client) -> None:
    response = post(client, {"orderId": "O-1"}, event="order.completed")
    assert response.status_code == 200
    assert post(client, {"x": 1}, event="something.new").status_code == 200
    assert post(client, {"x": 1}, event="something.new").json() == {"status": "duplicate"}
    assert list(WebhookEvent.objects.order_by("id").values_list("event", "outcome")) == [
        ("order.completed", "stored"),
        ("something.new", "stored"),
    ]


def test_credit_low_is_signalled(
    client: Client, signals: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, {"balance": 80}, event="credit.low").status_code == 200
    assert signals == [("received", "credit.low"), ("credit_low", 80)]


def test_sms_events_move_the_message(client: Client, message: Message) -> None:
    assert post(client, {"smsUuid": "sms-1", "status": "completed"}, event="sms.completed")
    assert post(client, {"smsUuid": "sms-1", "status": "processing"}, event="sms.sent")
    message.refresh_from_db()
    assert message.status == Message.Status.COMPLETED
    outcomes = list(WebhookEvent.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["applied", "no_change"]


def test_every_order_of_the_same_events_ends_the_same(client: Client, fixed: Any) -> None:
    import itertools

    events = [
        ("sms.sent", {"smsUuid": "sms-1", "status": "processing"}),
        ("dr.success", dr("success", "66812345678", "tx-a")),
        ("dr.failed", dr("failed", "66912345678", "tx-b")),
        ("sms.completed", {"smsUuid": "sms-1", "status": "completed"}),
    ]
    finals = set()
    for i, order in enumerate(itertools.permutations(events)):
        FixedUuidBackend.next_uuid = f"sms-{i}"
        msg = send_sms("Hi", ["0812345678", "0912345678"])
        for name, payload in order:
            body = {**payload, "smsUuid": f"sms-{i}"}
            if "txId" in body:
                body["txId"] = f"{body['txId']}-{i}"
            assert post(client, body, event=name).status_code == 200
        msg.refresh_from_db()
        finals.add(
            (
                msg.status,
                msg.delivered_count,
                msg.failed_count,
                tuple(msg.recipients.order_by("phone").values_list("status", flat=True)),
            )
        )
    assert finals == {("completed", 1, 1, ("success", "failed"))}


def test_a_report_before_its_message_waits_then_applies(client: Client, fixed: Any) -> None:
    FixedUuidBackend.next_uuid = "sms-early"
    early = {"smsUuid": "sms-early", "msisdn": "66812345678", "txId": "tx-e", "status": "success"}
    assert post(client, early).status_code == 200
    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.WAITING
    msg = send_sms("Hi", ["0812345678"])
    assert msg.recipients.get().status == Recipient.Status.SUCCESS
    msg.refresh_from_db()
    assert msg.delivered_count == 1
    event = WebhookEvent.objects.get()
    assert event.outcome == WebhookEvent.Outcome.APPLIED
    assert event.applied_at is not None


def test_otp_verified_closes_the_challenge(client: Client, sms_outbox: list[Any]) -> None:
    challenge = send_otp("0812345678")
    payload = {"reference": challenge.reference, "destination": "66812345678"}
    assert post(client, payload, event="otp.verified").status_code == 200
    challenge.refresh_from_db()
    assert challenge.status == OtpChallenge.Status.VERIFIED


def test_post_only_csrf_exempt_login_not_required(message: Message) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.get(URL).status_code == 405
    middleware = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    with override_settings(MIDDLEWARE=middleware):
        assert post(client, dr()).status_code == 200


def test_oversized_bodies(client: Client) -> None:
    with override_settings(SEPSMS={"WEBHOOK_SECRETS": [SECRET], "WEBHOOK_MAX_BODY_SIZE": 1024}):
        response = post(client, {"padding": "x" * 2000}, event="order.completed")
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_database_failure_answers_500_so_the_provider_retries(
    client: Client, message: Message, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseError("connection lost")

    monkeypatch.setattr("django_sepsms.webhooks.views.receive", broken)
    response = post(client, dr())
    assert response.status_code == 500
    monkeypatch.undo()
    assert post(client, dr()).status_code == 200  # the retry succeeds


@pytest.mark.django_db(transaction=True)
def test_one_delivery_report_costs_at_most_four_queries(fixed: Any, sms_outbox: list[Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    send_sms("Hi", ["0812345678"])
    client = Client()
    body = webhook_body(dr())
    headers = sign_webhook(body, SECRET)
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(URL, body, content_type="application/json", **headers)
    assert response.status_code == 200
    assert Recipient.objects.get().status == Recipient.Status.SUCCESS
    # Transaction control (BEGIN/COMMIT, which SQLite's backend logs) is not a query.
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(control)]
    if connection.vendor == "postgresql":
        assert len(statements) == 1, statements  # one statement applies and stores
    else:
        assert len(statements) == 4, statements  # lock row, update it, count, store the event


def test_sign_webhook_round_trip(client: Client, message: Message) -> None:
    body = json.dumps(dr()).encode()
    assert client.post(
        URL, body, content_type="application/json", **sign_webhook(body, SECRET)
    ).json() == {"status": "ok"}


def test_sms_event_status_must_match(client: Client, message: Message) -> None:
    post(client, {"smsUuid": "sms-1", "status": "processing"}, event="sms.completed")
    message.refresh_from_db()
    assert message.status == Message.Status.PENDING
    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.FAILED


def test_an_ambiguous_number_is_not_adopted(client: Client, sms_outbox: list[Any]) -> None:
    from django_sepsms.sending import prepare_message, record_message
    from django_sepsms.tracking.events import resolve_unconfirmed

    first = record_message(prepare_message("A", ["0812345678"]))
    second = record_message(prepare_message("B", ["0812345678"]))
    from django_sepsms.models import MessageBatch

    MessageBatch.objects.update(status=Message.Status.UNCONFIRMED)
    assert post(client, dr(), event="dr.success").json() == {"status": "ok"}
    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.WAITING
    assert not resolve_unconfirmed(first.batches.get())
    assert not resolve_unconfirmed(second.batches.get())
    assert not MessageBatch.objects.exclude(provider_uuid=None).exists()


def test_one_tx_id_for_two_numbers_is_two_reports(client: Client, message: Message) -> None:
    assert post(client, dr(msisdn="66812345678", tx="tx-same")).json() == {"status": "ok"}
    assert post(client, dr(msisdn="66912345678", tx="tx-same")).json() == {"status": "ok"}
    assert set(message.recipients.values_list("status", flat=True)) == {"success"}
    message.refresh_from_db()
    assert message.delivered_count == 2
    # A redelivery is still one, whichever way the number is written.
    assert post(client, dr(msisdn="0912345678", tx="tx-same")).json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 2


def test_one_tx_id_for_two_messages_is_two_reports(
    client: Client, message: Message, fixed: Any
) -> None:
    FixedUuidBackend.next_uuid = "sms-2"
    other = send_sms("Hello", ["0812345678"])
    assert post(client, dr(tx="tx-same")).json() == {"status": "ok"}
    report = {**dr(tx="tx-same"), "smsUuid": "sms-2"}
    assert post(client, report).json() == {"status": "ok"}
    assert other.recipients.get().status == Recipient.Status.SUCCESS
    assert message.recipients.get(phone="66812345678").status == Recipient.Status.SUCCESS


def test_a_later_status_of_the_same_report_is_not_a_duplicate(
    client: Client, message: Message
) -> None:
    expired = dr(status="expired", tx="tx-1")
    assert post(client, expired, event="dr.failed").json() == {"status": "ok"}
    refunded = dr(status="refunded", tx="tx-1")
    assert post(client, refunded, event="dr.failed").json() == {"status": "ok"}
    assert post(client, refunded, event="dr.failed").json() == {"status": "duplicate"}
    assert message.recipients.get(phone="66812345678").status == Recipient.Status.REFUNDED


def test_long_report_keys_are_hashed_to_fit_not_cut(client: Client, message: Message) -> None:
    from django_sepsms.webhooks.storage import _DEDUPE_KEY_LENGTH

    assert WebhookEvent._meta.get_field("dedupe_key").max_length == _DEDUPE_KEY_LENGTH
    long = "t" * 200
    expired = dr(status="expired", tx=long + "1")
    assert post(client, expired, event="dr.failed").json() == {"status": "ok"}
    assert post(client, dr(status="failed", tx=long + "2"), event="dr.failed").json() == {
        "status": "ok"
    }
    assert post(client, expired, event="dr.failed").json() == {"status": "duplicate"}
    keys = list(WebhookEvent.objects.values_list("dedupe_key", flat=True))
    assert len(set(keys)) == 2
    assert all(len(key) <= _DEDUPE_KEY_LENGTH for key in keys)


@pytest.mark.parametrize(
    ("event", "reported", "expected"),
    [
        ("dr.failed", "expired", Recipient.Status.EXPIRED),
        ("dr.failed", "refunded", Recipient.Status.REFUNDED),
        ("dr.failed", "failed", Recipient.Status.FAILED),
        ("dr.success", "delivered", Recipient.Status.SUCCESS),
        ("dr.success", "success", Recipient.Status.SUCCESS),
    ],
)
def test_body_statuses_that_agree_with_the_event_are_recorded(
    client: Client, message: Message, event: str, reported: str, expected: str
) -> None:
    assert post(client, dr(status=reported), event=event).json() == {"status": "ok"}
    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.APPLIED
    assert message.recipients.get(phone="66812345678").status == expected
    message.refresh_from_db()
    success = expected == Recipient.Status.SUCCESS
    assert (message.delivered_count, message.failed_count) == (int(success), int(not success))


@pytest.mark.parametrize(
    ("event", "reported"),
    [
        ("dr.success", "expired"),
        ("dr.success", "failed"),
        ("dr.success", "pending"),
        ("dr.failed", "delivered"),
        ("dr.failed", "sent"),
        ("dr.failed", "lost"),
    ],
)
def test_body_statuses_that_disagree_with_the_event_change_nothing(
    client: Client, message: Message, event: str, reported: str
) -> None:
    assert post(client, dr(status=reported), event=event).json() == {"status": "ok"}
    stored = WebhookEvent.objects.get()
    assert stored.outcome == WebhookEvent.Outcome.FAILED
    assert reported in stored.error
    assert set(message.recipients.values_list("status", flat=True)) == {"pending"}
