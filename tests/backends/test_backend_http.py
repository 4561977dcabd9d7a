"""The HTTP backend against the simulator, over real HTTP."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from django.test import override_settings
from django.utils import timezone

import django_sepsms
from django_sepsms import (
    aget_balance,
    asend_otp,
    asend_sms,
    averify_otp,
    contract,
    get_balance,
    send_otp,
    send_sms,
    verify_otp,
)
from django_sepsms.backends.base import OutgoingSms
from django_sepsms.backends.pools import close_pools
from django_sepsms.backends.sepsms import SepsmsBackend
from django_sepsms.exceptions import (
    AmbiguousRequestError,
    AmbiguousTimeoutError,
    AuthenticationError,
    ConfigurationError,
    InsufficientCreditError,
    NetworkError,
    NetworkTimeoutError,
    NotSupportedError,
    PermissionDeniedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    ProviderValidationError,
    RateLimitedError,
)
from django_sepsms.models import Message, MessageBatch, OtpChallenge, Recipient
from django_sepsms.otp import Reason
from django_sepsms.simulator import Simulator
from tests.helpers import KEY
from tests.helpers import http_settings as _settings
from tests.twins import sync_and_async

pytestmark = pytest.mark.django_db

#: Every test here runs with the sync functions, then with their async twins.
_callers = sync_and_async(
    globals(),
    get_balance=aget_balance,
    send_otp=asend_otp,
    send_sms=asend_sms,
    verify_otp=averify_otp,
)


def backend(sim: Simulator, **kwargs: Any) -> SepsmsBackend:
    slept: list[float] = []
    b = SepsmsBackend(sleep=slept.append, **kwargs)
    b.slept = slept  # type: ignore[attr-defined]
    return b


def test_send_records_the_providers_answer(sim: Simulator) -> None:
    msg = send_sms("สวัสดี", ["0812345678", "+66 91-234-5678"])
    batch = msg.batches.get()
    assert batch.provider_uuid in sim.messages
    assert batch.ref_no.startswith("SP")
    assert batch.total_credit == 2
    msg.refresh_from_db()
    assert msg.status == Message.Status.PENDING
    assert msg.total_credit == 2
    assert set(msg.recipients.values_list("status", flat=True)) == {Recipient.Status.PENDING}
    request = sim.requests[-1]
    assert request.path == "/api/v2/message/send"
    assert request.json == {
        "origin": "TESTSHOP",
        "message": "สวัสดี",
        "recipients": ["66812345678", "66912345678"],
        "scheduledTime": None,
    }
    assert request.headers["X-API-Key"] == KEY
    assert request.headers["User-Agent"].startswith(f"django-sepsms/{django_sepsms.__version__}")
    assert request.headers["Content-Type"] == "application/json"


def test_batches_variables_and_schedule(sim: Simulator) -> None:
    when = timezone.now() + dt.timedelta(hours=2)
    phones = [f"08123456{i:02d}" for i in range(25)]
    with override_settings(SEPSMS={**_settings(sim), "BATCH_SIZE": 10}):
        msg = send_sms(
            "Hi {name}", phones, scheduled_at=when, variables={phones[0]: {"name": "Somchai"}}
        )
    sends = sorted(
        (r for r in sim.requests if r.path.endswith("/message/send")),
        key=lambda r: r.json["recipients"][0],  # batches go out concurrently
    )
    assert [len(r.json["recipients"]) for r in sends] == [10, 10, 5]
    assert sends[0].json["variables"] == {"66812345600": {"name": "Somchai"}}
    assert "variables" not in sends[1].json
    scheduled = dt.datetime.fromisoformat(sends[0].json["scheduledTime"])
    assert scheduled.utcoffset() is not None
    assert abs((scheduled - when).total_seconds()) < 1
    assert msg.batches.count() == 3
    msg.refresh_from_db()
    assert msg.status == Message.Status.SCHEDULED


def test_status_and_recipients_follow_next_cursor(sim: Simulator) -> None:
    phones = [f"08123{i:05d}" for i in range(250)]
    sim.failing_numbers = {"66812300007"}
    msg = send_sms("Hi", phones)
    uuid = msg.batches.get().provider_uuid
    assert uuid
    sim.deliver_now(uuid)
    b = backend(sim)
    status = b.get_message_status(uuid)
    assert status.status == "completed"
    assert status.dr_summary == {"success": 249, "failed": 1}
    rows = list(b.iter_recipient_statuses(uuid))
    assert len(rows) == 250
    assert len({r.tx_id for r in rows}) == 250
    assert sum(1 for r in sim.requests if "/recipients" in r.path) >= 3
    assert {r.dr_status for r in rows} == {"success", "failed"}


def test_balance(sim: Simulator) -> None:
    sim.credits = 18420
    assert get_balance() == 18420


def test_provider_otp(sim: Simulator) -> None:
    challenge = send_otp("0812345678")
    assert challenge.mode == OtpChallenge.Mode.PROVIDER
    assert challenge.reference
    request = sim.requests[-1].json
    assert request["destination"] == "66812345678"
    assert request["codeLength"] >= 6
    assert request["ttlSeconds"] == 300
    assert request["template"] == "รหัสยืนยันของคุณคือ {code} (Ref: {ref})"
    assert challenge.expires_at <= timezone.now() + dt.timedelta(seconds=301)
    code = sim.last_otp_code("66812345678")
    assert code is not None
    assert code not in repr(list(OtpChallenge.objects.values()))
    wrong = "000000" if code != "000000" else "111111"
    assert verify_otp(challenge.reference, wrong).reason == Reason.WRONG
    assert verify_otp(challenge.reference, code)
    assert verify_otp(challenge.reference, code).reason == Reason.USED


def test_expired_challenge_makes_no_provider_call(sim: Simulator) -> None:
    challenge = send_otp("0812345678")
    code = sim.last_otp_code("66812345678")
    OtpChallenge.objects.filter(pk=challenge.pk).update(expires_at=timezone.now())
    before = len(sim.requests)
    assert verify_otp(challenge.reference, code or "").reason == Reason.EXPIRED
    assert len(sim.requests) == before


def test_local_otp_mode_sends_through_message_send(sim: Simulator) -> None:
    with override_settings(SEPSMS={**_settings(sim), "OTP_MODE": "local"}):
        challenge = send_otp("0812345678")
        assert challenge.mode == OtpChallenge.Mode.LOCAL
        text = sim.requests[-1].json["message"]
        assert sim.requests[-1].path.endswith("/message/send")
        code = text.split("คือ ")[1].split(" ")[0]
        assert verify_otp(challenge.reference, code)
    assert code not in Message.objects.get().text


def test_cancel_is_not_supported(sim: Simulator) -> None:
    with pytest.raises(NotSupportedError, match="not supported by SEPSMS API v2"):
        backend(sim).cancel_message("x")


def test_connections_are_pooled(sim: Simulator) -> None:
    b = backend(sim)
    with override_settings(SEPSMS={**_settings(sim), "THROTTLE": False}), b:
        for _ in range(1000):
            b.get_balance()
    ports = {r.client_port for r in sim.requests}
    assert len(sim.requests) == 1000
    assert len(ports) <= 4


def test_1000_sends_through_one_backend_use_a_handful_of_connections(sim: Simulator) -> None:
    sim.credits = 10**6
    b = backend(sim)  # no ``with``: the session outlives each call
    with override_settings(SEPSMS={**_settings(sim), "THROTTLE": False}):
        for i in range(1000):
            b.send_message(OutgoingSms("Hi", [f"66812{i:06d}"], "TESTSHOP"))
        msg = send_sms("Hi", ["0812345678"], backend=b)  # send_sms leaves it open too
    assert msg.status == Message.Status.PENDING
    assert len(sim.messages) == 1001
    assert len({r.client_port for r in sim.requests}) <= 4
    b.close()
    assert b._session is None


def test_a_backend_dropped_without_close_leaves_its_connections_to_the_next(
    sim: Simulator,
) -> None:
    b = backend(sim)
    b.get_balance()
    session = b._session
    assert session is not None
    adapter = session.get_adapter(sim.base_url)
    assert adapter.poolmanager.pools  # type: ignore[attr-defined]
    del b
    gc.collect()
    assert adapter.poolmanager.pools  # type: ignore[attr-defined]  # the process's, shared
    following = backend(sim)
    following.get_balance()
    assert following._session is session
    assert sim.requests[-1].client_port == sim.requests[-2].client_port  # kept alive
    close_pools()
    assert not adapter.poolmanager.pools  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"api_key": "sk_sep_wrong"}, AuthenticationError),
        ({"api_key": "sk_sep_readonly"}, PermissionDeniedError),
    ],
)
def test_auth_errors(sim: Simulator, kwargs: dict[str, str], exc: type[Exception]) -> None:
    with pytest.raises(exc) as info:
        backend(sim, **kwargs).get_balance()
    assert info.value.status in {401, 403}  # type: ignore[attr-defined]
    assert info.value.code.startswith("auth.")  # type: ignore[attr-defined]


def test_validation_error(sim: Simulator) -> None:
    from django_sepsms.backends.base import OutgoingSms

    with pytest.raises(ProviderValidationError) as info:
        backend(sim).send_message(OutgoingSms("Hi", ["12345"], "TESTSHOP"))
    assert info.value.status == 400
    assert info.value.code.startswith("validation.")


def test_insufficient_credit_is_recorded(sim: Simulator) -> None:
    sim.credits = 0
    with pytest.raises(InsufficientCreditError):
        send_sms("Hi", ["0812345678"])
    msg = Message.objects.get()
    assert msg.status == Message.Status.FAILED
    assert msg.error_code == "credit.insufficient"
    assert msg.recipients.get().status == Recipient.Status.FAILED


def test_429_waits_retry_after_then_succeeds(sim: Simulator) -> None:
    sim.fail_next("/message/send", status=429, code="rate_limit.exceeded", retry_after=1)
    b = backend(sim)
    msg = send_sms("Hi", ["0812345678"], backend=b)
    assert b.slept == [1.0]  # type: ignore[attr-defined]
    assert msg.status == Message.Status.PENDING
    assert len(sim.messages) == 1


def test_429_longer_than_allowed_is_raised_with_retry_after(sim: Simulator) -> None:
    sim.fail_next("/message/credit", status=429, code="rate_limit.exceeded", retry_after=60)
    with pytest.raises(RateLimitedError) as info:
        backend(sim).get_balance()
    assert info.value.retry_after == 60


def test_5xx_on_get_is_retried(sim: Simulator) -> None:
    sim.fail_next("/message/credit", status=502, times=2)
    b = backend(sim)
    assert b.get_balance() == sim.credits
    assert len(b.slept) == 2  # type: ignore[attr-defined]


def _sends(sim: Simulator) -> int:
    return [r.path for r in sim.requests].count("/api/v2/message/send")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_on_a_send_is_unconfirmed_and_never_resent(sim: Simulator, status: int) -> None:
    sim.fail_next("/message/send", status=status)
    b = backend(sim)
    with pytest.raises(AmbiguousRequestError) as info:
        send_sms("Hi", ["0812345678"], backend=b)
    assert info.value.status == status
    assert info.value.code == "server.unavailable"
    assert _sends(sim) == 1
    assert b.slept == []  # type: ignore[attr-defined]
    msg = Message.objects.get()
    assert msg.status == Message.Status.UNCONFIRMED
    assert msg.recipients.get().status == Recipient.Status.UNCONFIRMED


@pytest.mark.parametrize("concurrency", [1, 2])
def test_5xx_on_a_send_stops_the_batches_after_it(sim: Simulator, concurrency: int) -> None:
    sim.fail_next("/message/send", status=503, times=10)
    settings = {**_settings(sim), "BATCH_SIZE": 1, "SEND_CONCURRENCY": concurrency}
    with override_settings(SEPSMS=settings), pytest.raises(AmbiguousRequestError):
        send_sms("Hi", [f"08123{i:05d}" for i in range(5)])
    assert 1 <= _sends(sim) <= concurrency
    msg = Message.objects.get()
    statuses = list(msg.batches.order_by("position").values_list("status", flat=True))
    assert statuses.count(Message.Status.UNCONFIRMED) == _sends(sim)
    assert statuses.count(Message.Status.FAILED) == 5 - _sends(sim)  # never tried: resendable
    assert set(msg.batches.values_list("error_code", flat=True)) == {"server.unavailable"}
    failed = msg.recipients.filter(status=Recipient.Status.FAILED, error_code="server.unavailable")
    assert failed.count() == 5 - _sends(sim)


def test_a_worker_keeps_the_rest_queued_through_a_5xx_outage(sim: Simulator) -> None:
    from django_sepsms.sending import deliver_message, prepare_message, record_message

    settings = {**_settings(sim), "BATCH_SIZE": 1, "SEND_CONCURRENCY": 1}
    with override_settings(SEPSMS=settings):
        msg = record_message(prepare_message("Hi", [f"08123{i:05d}" for i in range(3)]))
        sim.fail_next("/message/send", status=502, times=10)
        deliver_message(msg, fail_silently=True, postpone_passing_errors=True)
        statuses = list(msg.batches.order_by("position").values_list("status", flat=True))
        assert statuses == ["unconfirmed", "queued", "queued"]
        sim.reset()  # the outage is over
        sim.rate_limits_enabled = False
        deliver_message(msg, fail_silently=True, postpone_passing_errors=True)
    statuses = list(msg.batches.order_by("position").values_list("status", flat=True))
    assert statuses == ["unconfirmed", "pending", "pending"]
    assert _sends(sim) == 2


def test_5xx_after_the_provider_acted_is_sent_once(sim: Simulator) -> None:
    sim.fail_next("/message/send", status=502, process=True)
    with pytest.raises(AmbiguousRequestError):
        send_sms("Hi", ["0812345678"], backend=backend(sim))
    assert len(sim.messages) == 1  # the provider has it...
    assert _sends(sim) == 1  # ...and it was not sent again
    assert Message.objects.get().status == Message.Status.UNCONFIRMED


def test_connection_dropped_after_the_provider_acted_is_unconfirmed(sim: Simulator) -> None:
    sim.fail_next("/message/send", drop=True, process=True)
    with pytest.raises(AmbiguousRequestError) as info:
        send_sms("Hi", ["0812345678"], backend=backend(sim))
    assert info.value.code == "network.ambiguous"
    assert len(sim.messages) == 1
    assert _sends(sim) == 1
    assert Message.objects.get().status == Message.Status.UNCONFIRMED


def test_dropped_connection_on_a_get_is_retried(sim: Simulator) -> None:
    sim.fail_next("/message/credit", drop=True)
    b = backend(sim)
    assert b.get_balance() == sim.credits
    assert len(b.slept) == 1  # type: ignore[attr-defined]


def test_5xx_on_a_get_is_a_provider_error_once_retries_are_used(sim: Simulator) -> None:
    sim.fail_next("/message/credit", status=500, code="server.error", times=10)
    b = backend(sim, max_retries=2)
    with pytest.raises(ProviderUnavailableError):
        b.get_balance()
    assert len(b.slept) == 2  # type: ignore[attr-defined]


def test_otp_send_never_waits_long_for_the_provider(sim: Simulator) -> None:
    b = backend(sim, max_retry_wait=30)

    def send() -> str:
        return b.send_otp(
            "66812345678", origin="TESTSHOP", template="{code} {ref}", ttl=300, code_length=6
        ).reference

    # Only the provider's 429 is tested here, not the throttle's own 5 a minute.
    with override_settings(SEPSMS={**_settings(sim), "THROTTLE": False}):
        sim.fail_next("/otp/send", status=429, code=contract.ERROR_RATE_LIMITED, retry_after=20)
        with pytest.raises(RateLimitedError) as info:
            send()
        assert info.value.retry_after == 20
        assert b.slept == []  # type: ignore[attr-defined]
        sim.fail_next("/otp/send", status=429, code=contract.ERROR_RATE_LIMITED, retry_after=1)
        assert send()
        assert b.slept == [1.0]  # type: ignore[attr-defined]
        # One second in all, not one second per wait.
        sim.fail_next(
            "/otp/send", status=429, code=contract.ERROR_RATE_LIMITED, retry_after=1, times=3
        )
        with pytest.raises(RateLimitedError):
            send()
    assert b.slept == [1.0, 1.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "exc"),
    [(402, InsufficientCreditError), (403, PermissionDeniedError), (422, ProviderValidationError)],
)
def test_unknown_codes_map_by_status_over_http(
    sim: Simulator, status: int, exc: type[Exception]
) -> None:
    sim.fail_next("/message/credit", status=status, code="brand_new.code")
    with pytest.raises(exc) as info:
        backend(sim).get_balance()
    assert info.value.code == "brand_new.code"  # type: ignore[attr-defined]


def test_a_refused_key_is_never_silenced(sim: Simulator) -> None:
    with pytest.raises(AuthenticationError):
        send_sms(
            "Hi", ["0812345678"], backend=backend(sim, api_key="sk_sep_wrong"), fail_silently=True
        )
    assert Message.objects.get().status == Message.Status.FAILED


def test_a_missing_scope_is_never_silenced(sim: Simulator) -> None:
    b = backend(sim, api_key="sk_sep_readonly")
    with pytest.raises(PermissionDeniedError):
        send_sms("Hi", ["0812345678"], backend=b, fail_silently=True)
    assert Message.objects.get().status == Message.Status.FAILED


def test_other_provider_errors_are_silenced_on_request(sim: Simulator) -> None:
    sim.credits = 0
    msg = send_sms("Hi", ["0812345678"], backend=backend(sim), fail_silently=True)
    assert msg.status == Message.Status.FAILED
    assert msg.error_code == "credit.insufficient"


@pytest.mark.parametrize("base_url", ["sepsms.com/api/v2", "ftp://sepsms.com/api/v2", "http://"])
def test_an_unusable_base_url_is_a_configuration_error(sim: Simulator, base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="BASE_URL"):
        send_sms("Hi", ["0812345678"], backend=backend(sim, base_url=base_url), fail_silently=True)
    msg = Message.objects.get()
    assert msg.status == Message.Status.FAILED
    assert msg.recipients.get().status == Recipient.Status.FAILED


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_retried_then_recorded(sim: Simulator) -> None:
    b = backend(sim, base_url=f"http://127.0.0.1:{_closed_port()}/api/v2", max_retries=2)
    with pytest.raises(NetworkError):
        send_sms("Hi", ["0812345678"], backend=b)
    assert len(b.slept) == 2  # type: ignore[attr-defined]
    msg = Message.objects.get()
    assert msg.status == Message.Status.FAILED
    assert msg.error_code == "network.connect"


def test_timeout_after_sending_is_ambiguous_and_never_resent(sim: Simulator) -> None:
    sim.delay_next("/message/send", seconds=1.5, process=True)
    b = backend(sim, timeout=0.5)
    with pytest.raises(AmbiguousRequestError):
        send_sms("Hi", ["0812345678"], backend=b)
    assert len(sim.messages) == 1  # the provider has it...
    msg = Message.objects.get()
    assert msg.status == Message.Status.UNCONFIRMED  # ...and we know we don't know
    assert msg.recipients.get().status == Recipient.Status.UNCONFIRMED
    assert [r.path for r in sim.requests].count("/api/v2/message/send") == 1


def test_read_timeout_on_get_is_retried(sim: Simulator) -> None:
    sim.delay_next("/message/credit", seconds=1.0, times=1)
    b = backend(sim, timeout=0.3)
    assert b.get_balance() == sim.credits


def test_timeouts_say_what_they_are(sim: Simulator) -> None:
    sim.delay_next("/message/credit", seconds=0.6, times=2)
    with pytest.raises(NetworkTimeoutError) as read:
        backend(sim, timeout=0.2, max_retries=1).get_balance()
    sim.delay_next("/message/send", seconds=0.6, process=True)
    with pytest.raises(AmbiguousTimeoutError) as sent:
        send_sms("Hi", ["0812345678"], backend=backend(sim, timeout=0.2))
    assert isinstance(read.value, ProviderTimeoutError)
    assert read.value.retryable
    assert isinstance(sent.value, ProviderTimeoutError)
    assert not sent.value.retryable
    assert Message.objects.get().status == Message.Status.UNCONFIRMED


def test_api_key_is_never_shown(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sim.credits = 0
    b = backend(sim)
    with pytest.raises(InsufficientCreditError) as info:
        send_sms("Hi", ["0812345678"], backend=b)
    texts = [str(info.value), repr(info.value), repr(b), caplog.text]
    texts += [repr(list(m.objects.values())) for m in (Message, MessageBatch, Recipient)]
    assert not [t for t in texts if KEY in t]


def test_missing_key_is_never_silenced(sim: Simulator) -> None:
    with (
        override_settings(SEPSMS={**_settings(sim), "API_KEY": ""}),
        pytest.raises(ConfigurationError),
    ):
        send_sms("Hi", ["0812345678"], fail_silently=True)
    msg = Message.objects.get()
    assert msg.status == Message.Status.FAILED
    assert msg.recipients.get().status == Recipient.Status.FAILED


@pytest.fixture
def odd_provider() -> Iterator[Callable[[bytes], str]]:
    """A stand-in that answers every request ``200`` with the given body: answers
    the simulator cannot give (a proxy's page, a success missing its fields)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer = {"body": b""}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def answering(body: bytes) -> str:
        answer["body"] = body
        return f"http://127.0.0.1:{server.server_port}/api/v2"

    yield answering
    server.shutdown()
    server.server_close()


def test_an_unreadable_answer_to_a_get_is_a_provider_error(
    sim: Simulator, odd_provider: Callable[[bytes], str]
) -> None:
    b = backend(sim, base_url=odd_provider(b"<html>maintenance</html>"))
    with pytest.raises(ProviderUnavailableError, match="JSON"):
        b.get_balance()
    b = backend(sim, base_url=odd_provider(b'{"result": null}'))
    with pytest.raises(ProviderUnavailableError) as info:
        b.get_message_status("u-1")
    assert info.value.code == "response.unexpected"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<html>maintenance</html>", "response.invalid_json"),
        (b'{"result": {"status": "pending"}}', "response.missing_uuid"),
        (b'{"result": null}', "response.missing_uuid"),
    ],
)
def test_an_unreadable_success_to_a_send_is_unconfirmed(
    sim: Simulator, odd_provider: Callable[[bytes], str], body: bytes, code: str
) -> None:
    b = backend(sim, base_url=odd_provider(body))
    with pytest.raises(AmbiguousRequestError) as info:
        send_sms("Hi", ["0812345678"], backend=b)
    assert info.value.code == code
    assert Message.objects.get().status == Message.Status.UNCONFIRMED


def test_a_code_accepted_without_a_reference_is_unconfirmed(
    sim: Simulator, odd_provider: Callable[[bytes], str]
) -> None:
    b = backend(sim, base_url=odd_provider(b'{"result": {"uuid": "u-1"}}'))
    with pytest.raises(AmbiguousRequestError) as info:
        b.send_otp("66812345678", origin="X", template="{code} {ref}", ttl=300, code_length=6)
    assert info.value.code == "response.missing_reference"


@pytest.mark.parametrize(
    ("balance", "credits"), [(b'"18420"', 18420), (b'"18420.0"', 18420), (b"7.9", 7)]
)
def test_a_balance_in_another_number_form(
    sim: Simulator, odd_provider: Callable[[bytes], str], balance: bytes, credits: int
) -> None:
    b = backend(sim, base_url=odd_provider(b'{"result": {"balance": ' + balance + b"}}"))
    assert b.get_balance() == credits


def test_requests_session_is_one_per_backend(sim: Simulator) -> None:
    b = backend(sim)
    with b:
        first = b._session
        b.get_balance()
        assert b._session is first
        assert isinstance(first, requests.Session)
    assert b._session is None


def test_batches_overlap_and_all_are_recorded(sim: Simulator) -> None:
    phones = [f"08123{i:05d}" for i in range(50)]
    with override_settings(
        SEPSMS={**_settings(sim), "BATCH_SIZE": 5, "SEND_CONCURRENCY": 4, "THROTTLE": False}
    ):
        msg = send_sms("Hi", phones)
    assert msg.batches.count() == 10
    uuids = set(msg.batches.values_list("provider_uuid", flat=True))
    assert uuids == set(sim.messages)
    assert not msg.recipients.exclude(status=Recipient.Status.PENDING).exists()
    assert msg.total_credit == 50


def test_a_refused_batch_stops_the_rest(sim: Simulator) -> None:
    sim.credits = 12  # enough for two batches of five
    phones = [f"08123{i:05d}" for i in range(50)]
    with (
        override_settings(
            SEPSMS={**_settings(sim), "BATCH_SIZE": 5, "SEND_CONCURRENCY": 2, "THROTTLE": False}
        ),
        pytest.raises(InsufficientCreditError),
    ):
        send_sms("Hi", phones)
    msg = Message.objects.get()
    attempted = len([r for r in sim.requests if r.path.endswith("/message/send")])
    assert attempted <= 4  # two accepted, the refused one, at most one more in flight
    assert (
        msg.delivered_count
        + msg.failed_count
        + msg.recipients.filter(status=Recipient.Status.PENDING).count()
        == 50
    )
    assert msg.recipients.filter(status=Recipient.Status.FAILED).count() >= 35
