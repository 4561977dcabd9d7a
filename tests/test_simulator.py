"""The SEPSMS simulator on its own, over real HTTP (no database)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from django_sepsms import contract
from django_sepsms.simulator import Simulator
from django_sepsms.webhooks.signature import parse_signature_header, signature_matches

SECRETS = ["whsec_current", "whsec_previous"]
NUMBER, NUMBER_LOCAL = "66812345678", "0812345678"
OTHER = "66898765432"


# -- a tiny webhook receiver ------------------------------------------------------------


class Receiver:
    """Collects webhook POSTs; answers the statuses in ``script`` first, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.script: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append((dict(self.headers.items()), body))
                    status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.script.clear()

    @property
    def events(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [(h["X-Webhook-Event"], json.loads(body)) for h, body in self.received]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="module")
def running_simulator(receiver: Receiver) -> Iterator[Simulator]:
    with Simulator(webhook_url=receiver.url, webhook_secrets=SECRETS) as simulator:
        yield simulator


@pytest.fixture
def sim(running_simulator: Simulator, receiver: Receiver) -> Simulator:
    running_simulator.reset()
    running_simulator.webhook_retry_delay = 0.01
    receiver.clear()
    return running_simulator


# -- helpers --------------------------------------------------------------------------


def call(
    sim: Simulator, method: str, path: str, *, key: str | None = None, **kwargs: Any
) -> requests.Response:
    """``key=None``: the simulator's key; ``key=""``: no key at all."""
    headers = {contract.API_KEY_HEADER: sim.api_key if key is None else key} if key != "" else {}
    kwargs.setdefault("timeout", 5)
    return requests.request(method, sim.base_url + path, headers=headers, **kwargs)


def send(sim: Simulator, **fields: Any) -> requests.Response:
    payload = {"origin": "TESTSHOP", "message": "Hello", "recipients": [NUMBER], **fields}
    return call(sim, "POST", contract.PATH_SEND, json=payload)


def sent_uuid(sim: Simulator, **fields: Any) -> str:
    response = send(sim, **fields)
    assert response.status_code == 200, response.text
    return str(response.json()["result"]["uuid"])


def error_code(response: requests.Response) -> str:
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) >= {"code", "message"}
    return str(body["error"]["code"])


def status_of(sim: Simulator, uuid: str) -> dict[str, Any]:
    response = call(sim, "GET", contract.PATH_MESSAGE.format(uuid=uuid))
    assert response.status_code == 200
    result: dict[str, Any] = response.json()["result"]
    return result


def send_otp(sim: Simulator, **fields: Any) -> requests.Response:
    payload = {"destination": NUMBER, "origin": "TESTSHOP", **fields}
    return call(sim, "POST", contract.PATH_OTP_SEND, json=payload)


def verify(sim: Simulator, reference: str, pin: str) -> requests.Response:
    return call(sim, "POST", contract.PATH_OTP_VERIFY, json={"reference": reference, "pin": pin})


def wait_until(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# -- plumbing -------------------------------------------------------------------------


class TestPlumbing:
    def test_urls_and_default_key(self, sim: Simulator) -> None:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v2", sim.base_url)
        assert sim.inbox_url == sim.base_url.removesuffix("/api/v2") + "/"
        assert sim.api_key == "sk_sep_test"

    def test_health(self, sim: Simulator) -> None:
        response = requests.get(sim.inbox_url + "_sim/health", timeout=5)
        assert response.json() == {"ok": True}
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"

    def test_unknown_path(self, sim: Simulator) -> None:
        response = call(sim, "GET", "/nothing/here")
        assert response.status_code == 404
        assert error_code(response) == contract.ERROR_NOT_FOUND
        assert requests.get(sim.inbox_url + "elsewhere", timeout=5).status_code == 404

    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", contract.PATH_SEND), ("POST", contract.PATH_BALANCE), ("DELETE", "/otp/verify")],
    )
    def test_wrong_method(self, sim: Simulator, method: str, path: str) -> None:
        response = call(sim, method, path)
        assert response.status_code == 405
        assert error_code(response) == "request.method_not_allowed"
        assert response.headers["Allow"]

    @pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
    def test_invalid_json(self, sim: Simulator, body: bytes) -> None:
        response = call(sim, "POST", contract.PATH_SEND, data=body)
        assert response.status_code == 400
        assert error_code(response) == "validation.invalid_json"

    @pytest.mark.parametrize("path", ["/api/sms", "/api/otp", "/api/sms/send"])
    def test_legacy_v1(self, sim: Simulator, path: str) -> None:
        response = requests.post(sim.inbox_url + path.lstrip("/"), json={}, timeout=5)
        assert response.status_code == 410
        assert error_code(response) == "legacy.not_supported"

    def test_requests_recorded(self, sim: Simulator) -> None:
        send(sim, message="Recorded")
        requests.get(sim.inbox_url + "_sim/health", timeout=5)
        (recorded,) = sim.requests
        assert recorded.method == "POST"
        assert recorded.path == "/api/v2" + contract.PATH_SEND
        assert recorded.headers["x-api-key"] == sim.api_key
        assert recorded.json["message"] == "Recorded"
        assert recorded.time <= datetime.now(UTC)

    def test_reset_endpoint(self, sim: Simulator) -> None:
        sent_uuid(sim)
        assert requests.get(sim.inbox_url + "_sim/reset", timeout=5).status_code == 405
        assert requests.post(sim.inbox_url + "_sim/reset", timeout=5).json() == {"ok": True}
        assert sim.messages == {}
        assert sim.requests == []


# -- authentication -------------------------------------------------------------------


class TestAuth:
    @pytest.mark.parametrize("key", ["", "sk_sep_unknown"])
    def test_missing_or_unknown_key(self, sim: Simulator, key: str) -> None:
        response = call(sim, "GET", contract.PATH_BALANCE, key=key)
        assert response.status_code == 401
        assert error_code(response) == contract.ERROR_INVALID_CREDENTIALS

    def test_scope(self, sim: Simulator) -> None:
        sim.add_api_key("sk_sep_reader", {"sms:read", "credit:read"})
        assert call(sim, "GET", contract.PATH_BALANCE, key="sk_sep_reader").status_code == 200
        response = call(sim, "POST", contract.PATH_SEND, key="sk_sep_reader", json={})
        assert response.status_code == 403
        assert error_code(response) == contract.ERROR_FORBIDDEN_SCOPE

    def test_ip_allow_list(self, sim: Simulator) -> None:
        sim.add_api_key("sk_sep_office", contract.SCOPES, allowed_ips={"10.1.2.3"})
        sim.add_api_key("sk_sep_local", contract.SCOPES, allowed_ips={"127.0.0.1"})
        response = call(sim, "GET", contract.PATH_BALANCE, key="sk_sep_office")
        assert response.status_code == 403
        assert error_code(response) == contract.ERROR_IP_NOT_ALLOWED
        assert call(sim, "GET", contract.PATH_BALANCE, key="sk_sep_local").status_code == 200

    def test_reset_forgets_added_keys(self, sim: Simulator) -> None:
        sim.add_api_key("sk_sep_temp")
        sim.reset()
        assert call(sim, "GET", contract.PATH_BALANCE, key="sk_sep_temp").status_code == 401


# -- sending --------------------------------------------------------------------------


class TestSend:
    def test_accepted_and_delivered(self, sim: Simulator) -> None:
        response = send(sim, recipients=[NUMBER_LOCAL, OTHER, NUMBER])
        assert response.status_code == 200
        result = response.json()["result"]
        assert result["refNo"].startswith("SP")
        assert result["totalMsisdn"] == 2  # duplicates in either format count once
        assert result["totalCredit"] == 2
        assert result["blockedCount"] == 0
        assert result["status"] == "pending"
        assert sim.credits == 100_000 - 2
        sim.deliver_now()
        status = status_of(sim, result["uuid"])
        assert status["status"] == "completed"
        assert status["origin"] == "TESTSHOP"
        assert status["drSummary"] == [{"drStatus": "success", "count": 2}]
        assert status["refundedCount"] == 0
        assert sorted(e.msisdn for e in sim.inbox) == [NUMBER, OTHER]

    def test_variables_and_segments(self, sim: Simulator) -> None:
        text = "สวัสดีคุณ {name} " + "ก" * 60
        response = send(
            sim,
            message=text,
            recipients=[NUMBER, OTHER],
            variables={NUMBER_LOCAL: {"name": "สมชาย"}, OTHER: {"name": "A"}},
        )
        assert response.json()["result"]["totalCredit"] == 4  # > 70 UCS-2 characters: 2 parts
        sim.deliver_now()
        texts = {e.msisdn: e.text for e in sim.inbox}
        assert texts[NUMBER].startswith("สวัสดีคุณ สมชาย ")
        assert texts[OTHER].startswith("สวัสดีคุณ A ")

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"origin": ""}, contract.ERROR_VALIDATION),
            ({"origin": "X" * 33}, contract.ERROR_VALIDATION),
            ({"message": None}, contract.ERROR_VALIDATION),
            ({"recipients": []}, "validation.invalid_recipients"),
            ({"recipients": "66812345678"}, "validation.invalid_recipients"),
            ({"scheduledTime": "2030-01-01T10:00:00"}, "validation.invalid_scheduled_time"),
            ({"scheduledTime": "tomorrow"}, "validation.invalid_scheduled_time"),
            ({"variables": ["x"]}, "validation.invalid_variables"),
            ({"variables": {NUMBER: "x"}}, "validation.invalid_variables"),
        ],
    )
    def test_validation(self, sim: Simulator, fields: dict[str, Any], code: str) -> None:
        response = send(sim, **fields)
        assert response.status_code == 400
        assert error_code(response) == code
        assert sim.messages == {}

    def test_invalid_recipients_listed(self, sim: Simulator) -> None:
        response = send(sim, recipients=[NUMBER, "021234567", "+66812345678", 5])
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "validation.invalid_recipients"
        assert error["details"]["invalid"] == ["021234567", "+66812345678", 5]
        assert "021234567" in error["message"]

    def test_too_many_recipients(self, sim: Simulator) -> None:
        sim.max_recipients_per_request = 2
        response = send(sim, recipients=[NUMBER, OTHER, "66911111111"])
        assert response.status_code == 400
        assert error_code(response) == "validation.too_many_recipients"

    def test_insufficient_credit(self, sim: Simulator) -> None:
        sim.credits = 1
        response = send(sim, recipients=[NUMBER, OTHER])
        assert response.status_code == 402
        assert error_code(response) == contract.ERROR_INSUFFICIENT_CREDIT
        assert sim.credits == 1
        assert sim.messages == {}

    def test_blocked_numbers(self, sim: Simulator) -> None:
        sim.blocked_numbers.add(NUMBER_LOCAL)
        result = send(sim, recipients=[NUMBER, OTHER]).json()["result"]
        assert (result["totalMsisdn"], result["blockedCount"], result["totalCredit"]) == (1, 1, 1)
        sim.deliver_now()
        assert [e.msisdn for e in sim.inbox] == [OTHER]

    def test_failing_numbers(self, sim: Simulator) -> None:
        sim.failing_numbers.add(NUMBER)
        partly = sent_uuid(sim, recipients=[NUMBER, OTHER])
        wholly = sent_uuid(sim, recipients=[NUMBER])
        sim.deliver_now()
        summary = {row["drStatus"]: row["count"] for row in status_of(sim, partly)["drSummary"]}
        assert summary == {"success": 1, "failed": 1}
        assert status_of(sim, partly)["status"] == "completed"
        assert status_of(sim, wholly)["status"] == "failed"
        assert {e.status for e in sim.inbox if e.msisdn == NUMBER} == {"failed"}


class TestMessageStatus:
    def test_unknown_uuid(self, sim: Simulator) -> None:
        response = call(sim, "GET", contract.PATH_MESSAGE.format(uuid="nope"))
        assert response.status_code == 404
        assert error_code(response) == "message.not_found"
        response = call(sim, "GET", contract.PATH_RECIPIENTS.format(uuid="nope"))
        assert response.status_code == 404

    def test_progress_with_delivery_delay(self, sim: Simulator) -> None:
        sim.delivery_delay = 60
        uuid = sent_uuid(sim, recipients=[NUMBER, OTHER])
        wait_until(lambda: status_of(sim, uuid)["status"] == "processing")
        assert status_of(sim, uuid)["drSummary"] == [{"drStatus": "pending", "count": 2}]
        assert sim.inbox == []
        sim.deliver_now(uuid)
        assert status_of(sim, uuid)["status"] == "completed"
        assert sim.messages[uuid].recipients[0].dr_status == "success"

    def test_recipients_pagination(self, sim: Simulator) -> None:
        numbers = [f"6681000{i:04d}" for i in range(7)]
        uuid = sent_uuid(sim, recipients=numbers)
        sim.deliver_now()
        path = contract.PATH_RECIPIENTS.format(uuid=uuid)
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            result = call(sim, "GET", path, params=params).json()["result"]
            pages += 1
            for item in result["items"]:
                assert set(item) == {"msisdn", "txId", "drStatus", "updatedAt"}
                assert re.fullmatch(r"[0-9a-f]{32}", item["txId"])
                assert item["drStatus"] == "success"
                seen.append(item["msisdn"])
            cursor = result["nextCursor"]
            if cursor is None:
                break
        assert pages == 3
        assert seen == numbers

    def test_recipients_default_page_and_bad_parameters(self, sim: Simulator) -> None:
        uuid = sent_uuid(sim, recipients=[f"6690000{i:04d}" for i in range(120)])
        path = contract.PATH_RECIPIENTS.format(uuid=uuid)
        result = call(sim, "GET", path).json()["result"]
        assert len(result["items"]) == 100
        assert result["nextCursor"]
        for params in ({"cursor": "garbage!"}, {"limit": "0"}, {"limit": "x"}):
            assert call(sim, "GET", path, params=params).status_code == 400

    def test_balance(self, sim: Simulator) -> None:
        sim.credits = 18420
        response = call(sim, "GET", contract.PATH_BALANCE)
        assert response.json() == {"result": {"balance": 18420}}


class TestScheduled:
    def test_future_message_waits(self, sim: Simulator) -> None:
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        result = send(sim, scheduledTime=later).json()["result"]
        assert result["status"] == "scheduled"
        time.sleep(0.15)
        assert status_of(sim, result["uuid"])["status"] == "scheduled"
        sim.deliver_now()  # without a uuid, scheduled messages keep waiting
        assert status_of(sim, result["uuid"])["status"] == "scheduled"
        sim.deliver_now(result["uuid"])
        assert status_of(sim, result["uuid"])["status"] == "completed"

    def test_falls_due(self, sim: Simulator) -> None:
        soon = datetime.now(UTC).astimezone() + timedelta(seconds=0.4)
        uuid = send(sim, scheduledTime=soon.isoformat()).json()["result"]["uuid"]
        assert status_of(sim, uuid)["status"] == "scheduled"
        wait_until(lambda: status_of(sim, uuid)["status"] == "completed")

    def test_past_time_sends_now(self, sim: Simulator) -> None:
        earlier = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        assert send(sim, scheduledTime=earlier).json()["result"]["status"] == "pending"


# -- OTP ------------------------------------------------------------------------------


class TestOtp:
    def test_send(self, sim: Simulator) -> None:
        response = send_otp(sim, destination=NUMBER_LOCAL, template="รหัส {code} (Ref: {ref})")
        assert response.status_code == 200
        result = response.json()["result"]
        assert set(result) == {"uuid", "reference", "destination", "expiresAt", "ttlSeconds"}
        assert re.fullmatch(r"[A-Z0-9]{6}", result["reference"])
        assert result["destination"] == NUMBER
        assert result["ttlSeconds"] == 300
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", result["expiresAt"])
        code = sim.last_otp_code(NUMBER_LOCAL)
        assert code is not None
        assert re.fullmatch(r"\d{6}", code)
        assert code not in response.text
        (entry,) = sim.inbox
        assert entry.text == f"รหัส {code} (Ref: {result['reference']})"
        assert entry.otp_reference == result["reference"]
        assert sim.credits == 100_000 - 1

    def test_default_template_and_length(self, sim: Simulator) -> None:
        send_otp(sim, codeLength=8, ttlSeconds=60)
        code = sim.last_otp_code(NUMBER)
        assert code is not None
        assert len(code) == 8
        assert sim.inbox[0].text.startswith(f"Your code is {code} (Ref: ")

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"destination": "021234567"}, "validation.invalid_destination"),
            ({"origin": None}, contract.ERROR_VALIDATION),
            ({"template": "no placeholder"}, "validation.invalid_template"),
            ({"ttlSeconds": 59}, "validation.invalid_ttl"),
            ({"ttlSeconds": 601}, "validation.invalid_ttl"),
            ({"ttlSeconds": "300"}, "validation.invalid_ttl"),
            ({"codeLength": 3}, "validation.invalid_code_length"),
            ({"codeLength": 9}, "validation.invalid_code_length"),
        ],
    )
    def test_send_validation(self, sim: Simulator, fields: dict[str, Any], code: str) -> None:
        response = send_otp(sim, **fields)
        assert response.status_code == 400
        assert error_code(response) == code
        assert sim.inbox == []

    def test_send_without_credit(self, sim: Simulator) -> None:
        sim.credits = 0
        assert send_otp(sim).status_code == 402

    def test_verify(self, sim: Simulator, receiver: Receiver) -> None:
        reference = send_otp(sim).json()["result"]["reference"]
        code = sim.last_otp_code(NUMBER)
        assert code is not None
        response = verify(sim, reference.lower(), code)
        assert response.json() == {"result": {"reference": reference, "verified": True}}
        again = verify(sim, reference, code)
        assert again.status_code == 400
        assert error_code(again) == "otp.already_verified"
        assert sim.wait_for_webhooks()
        assert ("otp.verified", {"reference": reference, "destination": NUMBER}) in receiver.events

    def test_wrong_pins_then_locked(self, sim: Simulator) -> None:
        reference = send_otp(sim).json()["result"]["reference"]
        code = sim.last_otp_code(NUMBER)
        assert code is not None
        wrong = "0" * 6 if code != "0" * 6 else "1" * 6
        for _ in range(5):
            response = verify(sim, reference, wrong)
            assert response.status_code == 200
            assert response.json()["result"]["verified"] is False
        locked = verify(sim, reference, code)
        assert locked.status_code == 400
        assert error_code(locked) == contract.ERROR_OTP_TOO_MANY_ATTEMPTS

    def test_expired_and_unknown(self, sim: Simulator) -> None:
        reference = send_otp(sim).json()["result"]["reference"]
        sim.otps[reference].expires_at = datetime.now(UTC) - timedelta(seconds=1)
        code = sim.last_otp_code(NUMBER)
        assert code is not None
        expired = verify(sim, reference, code)
        assert expired.status_code == 400
        assert error_code(expired) == contract.ERROR_OTP_EXPIRED
        unknown = verify(sim, "ZZZZZZ", "123456")
        assert unknown.status_code == 404
        assert error_code(unknown) == contract.ERROR_OTP_NOT_FOUND
        assert (
            call(sim, "POST", contract.PATH_OTP_VERIFY, json={"reference": reference}).status_code
            == 400
        )

    def test_last_code_is_newest(self, sim: Simulator) -> None:
        assert sim.last_otp_code(NUMBER) is None
        send_otp(sim)
        first = sim.last_otp_code(NUMBER)
        send_otp(sim, codeLength=8)
        assert sim.last_otp_code(NUMBER) != first
        assert len(sim.last_otp_code(NUMBER) or "") == 8


# -- rate limits and faults -------------------------------------------------------------


def assert_rate_limited(response: requests.Response) -> None:
    assert response.status_code == 429
    assert error_code(response) == contract.ERROR_RATE_LIMITED
    assert int(response.headers[contract.HEADER_RETRY_AFTER]) >= 1
    assert response.headers[contract.HEADER_RATELIMIT_REMAINING] == "0"


class TestRateLimits:
    def test_send_limit(self, sim: Simulator) -> None:
        sim.rate_limits["send"] = (2, 60)
        assert [send(sim).status_code for _ in range(2)] == [200, 200]
        assert_rate_limited(send(sim))
        assert call(sim, "GET", contract.PATH_BALANCE).status_code == 200
        assert len(sim.messages) == 2

    def test_otp_limit_per_ip(self, sim: Simulator) -> None:
        sim.rate_limits["otp_per_ip"] = (2, 60)
        sim.add_api_key("sk_sep_second")
        assert send_otp(sim).status_code == 200
        other_key = call(
            sim,
            "POST",
            contract.PATH_OTP_SEND,
            key="sk_sep_second",
            json={"destination": NUMBER, "origin": "X"},
        )
        assert other_key.status_code == 200
        assert_rate_limited(send_otp(sim))

    def test_global_limit_and_window(self, sim: Simulator) -> None:
        sim.rate_limits["all"] = (2, 1)
        assert call(sim, "GET", contract.PATH_BALANCE).status_code == 200
        assert call(sim, "GET", contract.PATH_BALANCE).status_code == 200
        assert_rate_limited(call(sim, "GET", contract.PATH_BALANCE))
        time.sleep(1.05)
        assert call(sim, "GET", contract.PATH_BALANCE).status_code == 200

    def test_can_be_disabled(self, sim: Simulator) -> None:
        sim.rate_limits["all"] = (1, 60)
        sim.rate_limits_enabled = False
        assert {call(sim, "GET", contract.PATH_BALANCE).status_code for _ in range(3)} == {200}


class TestFaults:
    def test_fail_next(self, sim: Simulator) -> None:
        sim.fail_next("/message/send", times=2)
        assert call(sim, "GET", contract.PATH_BALANCE).status_code == 200
        first, second, third = (send(sim) for _ in range(3))
        assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
        assert error_code(first) == "server.unavailable"
        assert len(sim.messages) == 1

    def test_fail_next_429(self, sim: Simulator) -> None:
        sim.fail_next(status=429, code=contract.ERROR_RATE_LIMITED, retry_after=7)
        response = call(sim, "GET", contract.PATH_BALANCE)
        assert_rate_limited(response)
        assert response.headers[contract.HEADER_RETRY_AFTER] == "7"

    def test_delay_processed_before_timeout(self, sim: Simulator) -> None:
        sim.delay_next(contract.PATH_SEND, seconds=0.5)
        payload = {"origin": "TESTSHOP", "message": "Hello", "recipients": [NUMBER]}
        with pytest.raises(requests.ReadTimeout):
            call(sim, "POST", contract.PATH_SEND, json=payload, timeout=0.15)
        assert len(sim.messages) == 1  # sent, though the client never heard back
        assert sim.credits == 100_000 - 1

    def test_delay_without_processing(self, sim: Simulator) -> None:
        sim.delay_next(seconds=0.2, process=False)
        started = time.monotonic()
        assert call(sim, "GET", contract.PATH_BALANCE).status_code == 200
        assert time.monotonic() - started >= 0.2


# -- webhooks -------------------------------------------------------------------------


class TestWebhooks:
    def test_signed_events_in_order(self, sim: Simulator, receiver: Receiver) -> None:
        uuid = sent_uuid(sim, recipients=[NUMBER, OTHER])
        sim.deliver_now()
        events = receiver.events
        assert [name for name, _ in events] == [
            "sms.sent",
            "dr.success",
            "dr.success",
            "sms.completed",
        ]
        assert events[0][1] == {"smsUuid": uuid, "status": "processing"}
        recipients = {r.msisdn: r.tx_id for r in sim.messages[uuid].recipients}
        assert events[1][1] == {
            "smsUuid": uuid,
            "msisdn": NUMBER,
            "txId": recipients[NUMBER],
            "status": "success",
        }
        assert events[3][1] == {"smsUuid": uuid, "status": "completed"}
        for headers, body in receiver.received:
            assert headers["Content-Type"] == "application/json"
            parsed = parse_signature_header(headers[contract.HEADER_WEBHOOK_SIGNATURE])
            assert parsed is not None
            assert str(parsed.timestamp) == headers[contract.HEADER_WEBHOOK_TIMESTAMP]
            assert abs(parsed.timestamp - time.time()) < 10
            assert len(parsed.signatures) == len(SECRETS)
            for secret in SECRETS:
                assert signature_matches(parsed, body, [secret])
            assert not signature_matches(parsed, body, ["whsec_wrong"])
        assert [status for _, _, status in sim.webhook_log] == [200] * 4

    def test_failed_delivery_events(self, sim: Simulator, receiver: Receiver) -> None:
        sim.failing_numbers.add(NUMBER_LOCAL)
        uuid = sent_uuid(sim)
        sim.deliver_now()
        assert [name for name, _ in receiver.events] == ["sms.sent", "dr.failed", "sms.failed"]
        assert receiver.events[2][1] == {"smsUuid": uuid, "status": "failed"}

    def test_reset_leaves_no_event_from_before(self, sim: Simulator, receiver: Receiver) -> None:
        # Deliveries run in the background: reset() must not race one of them.
        for _ in range(40):
            sim.delivery_delay = 0
            sent_uuid(sim)
            time.sleep(0.002)
            sim.reset()
            sim.webhook_retry_delay = 0.01
            receiver.clear()
            assert sim.wait_for_webhooks(5)
            assert receiver.events == []
            assert sim.webhook_log == []

    def test_duplicates(self, sim: Simulator, receiver: Receiver) -> None:
        sim.webhook_duplicates = True
        sent_uuid(sim)
        sim.deliver_now()
        names = [name for name, _ in receiver.events]
        assert sorted(names) == sorted(["sms.sent", "dr.success", "sms.completed"] * 2)

    def test_reverse_order(self, sim: Simulator, receiver: Receiver) -> None:
        sim.webhook_reverse = True
        sim.delivery_delay = 60
        uuid = sent_uuid(sim)
        wait_until(lambda: status_of(sim, uuid)["status"] == "processing")
        assert receiver.events == []  # held until the message is final
        sim.deliver_now(uuid)
        assert [name for name, _ in receiver.events] == ["sms.completed", "dr.success", "sms.sent"]

    def test_retries_until_2xx(self, sim: Simulator, receiver: Receiver) -> None:
        receiver.script[:] = [500, 502]
        sent_uuid(sim)
        sim.deliver_now()
        outcomes = [(event, status) for event, _, status in sim.webhook_log]
        assert outcomes[:3] == [("sms.sent", 500), ("sms.sent", 502), ("sms.sent", 200)]
        assert [name for name, _ in receiver.events].count("sms.sent") == 3

    def test_gives_up_after_retries(self, sim: Simulator) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]
        sim.webhook_url = f"http://127.0.0.1:{closed_port}/hooks"
        sim.webhook_retries = 1
        sent_uuid(sim)
        sim.deliver_now()
        log = sim.webhook_log
        assert len(log) == 2 * 3  # three events, two attempts each
        assert all(isinstance(status, str) and "ConnectionError" in status for _, _, status in log)

    def test_credit_low_once_per_crossing(self, sim: Simulator, receiver: Receiver) -> None:
        sim.credits = 101
        for _ in range(4):
            sent_uuid(sim)
        sim.credits = 100  # back at the threshold: armed again
        sent_uuid(sim)
        sim.deliver_now()
        lows = [payload for name, payload in receiver.events if name == "credit.low"]
        assert lows == [{"balance": 99}, {"balance": 99}]

    def test_no_url_no_webhooks(self, sim: Simulator, receiver: Receiver) -> None:
        sim.webhook_url = None
        sent_uuid(sim)
        sim.deliver_now()
        assert receiver.received == []
        assert sim.webhook_log == []


# -- control over HTTP -----------------------------------------------------------------


def control(sim: Simulator, name: str, body: Any = None) -> requests.Response:
    url = sim.inbox_url + "_sim/" + name
    if body is None:
        return requests.get(url, timeout=5)
    return requests.post(url, json=body, timeout=5)


class TestControl:
    def test_switches_are_read_and_changed(self, sim: Simulator) -> None:
        before = control(sim, "switches").json()
        assert before["webhook_duplicates"] is False
        answer = control(
            sim,
            "switches",
            {"webhook_duplicates": True, "failing_numbers": ["66812345678"], "credits": 7},
        )
        assert answer.status_code == 200
        assert answer.json()["switches"]["failing_numbers"] == ["66812345678"]
        assert sim.webhook_duplicates is True
        assert sim.failing_numbers == {"66812345678"}
        assert sim.credits == 7

    @pytest.mark.parametrize(
        "body",
        [
            {"webhook_duplicates": "yes"},
            {"credits": -1},
            {"no_such_switch": 1},
            {"credits": 5, "delivery_delay": "soon"},
            ["not", "an", "object"],
        ],
    )
    def test_a_bad_body_is_refused_and_changes_nothing(self, sim: Simulator, body: Any) -> None:
        credits = sim.credits
        answer = control(sim, "switches", body)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "validation.invalid"
        assert sim.credits == credits
        assert sim.webhook_duplicates is False

    def test_faults_and_delays(self, sim: Simulator) -> None:
        assert control(sim, "fail", {"path": "/message/send", "status": 502}).status_code == 200
        assert send(sim).status_code == 502
        assert send(sim).status_code == 200
        control(sim, "fail", {"path": "/message/send", "status": 502, "process": True})
        assert send(sim).status_code == 502
        assert len(sim.messages) == 2  # the second one took effect before failing
        control(sim, "delay", {"path": "/message/credit", "seconds": 0.3})
        started = time.monotonic()
        assert call(sim, "GET", contract.PATH_BALANCE).status_code == 200
        assert time.monotonic() - started >= 0.3

    def test_dropped_connections(self, sim: Simulator) -> None:
        control(sim, "fail", {"path": "/message/send", "drop": True})
        with pytest.raises(requests.ConnectionError):
            send(sim)

    def test_keys_with_scopes_and_addresses(self, sim: Simulator) -> None:
        control(sim, "keys", {"key": "sk_sep_reader", "scopes": ["credit:read"]})
        control(sim, "keys", {"key": "sk_sep_far", "allowed_ips": ["203.0.113.9"]})
        assert call(sim, "GET", contract.PATH_BALANCE, key="sk_sep_reader").status_code == 200
        payload = {"origin": "TESTSHOP", "message": "Hi", "recipients": [NUMBER]}
        refused = call(sim, "POST", contract.PATH_SEND, key="sk_sep_reader", json=payload)
        assert error_code(refused) == contract.ERROR_FORBIDDEN_SCOPE
        assert (
            error_code(call(sim, "GET", contract.PATH_BALANCE, key="sk_sep_far"))
            == contract.ERROR_IP_NOT_ALLOWED
        )
        answer = control(sim, "keys", {"key": "sk_sep_x", "scopes": ["sms:everything"]})
        assert answer.status_code == 400

    def test_deliver_and_reset(self, sim: Simulator) -> None:
        control(sim, "switches", {"delivery_delay": 3600})
        uuid = sent_uuid(sim)
        assert control(sim, "deliver", {"uuid": uuid}).status_code == 200
        assert sim.messages[uuid].status == "completed"
        assert control(sim, "deliver", {"uuid": "nope"}).status_code == 404
        assert control(sim, "reset", {}).status_code == 200
        assert sim.messages == {}
        assert sim.delivery_delay == 0

    def test_a_form_post_changes_nothing(self, sim: Simulator) -> None:
        url = sim.inbox_url + "_sim/switches"
        for body, kind in (
            ("webhook_duplicates=true", "application/x-www-form-urlencoded"),
            ('{"webhook_duplicates": true}', "text/plain"),
            ('{"webhook_duplicates": true}', ""),
        ):
            answer = requests.post(url, data=body, headers={"Content-Type": kind}, timeout=5)
            assert answer.status_code == 415
        assert sim.webhook_duplicates is False

    def test_unknown_and_wrong_methods(self, sim: Simulator) -> None:
        assert requests.get(sim.inbox_url + "_sim/nope", timeout=5).status_code == 404
        assert requests.get(sim.inbox_url + "_sim/fail", timeout=5).status_code == 405


# -- inbox ----------------------------------------------------------------------------


class TestInbox:
    def test_html_escaped_newest_first(self, sim: Simulator) -> None:
        send(sim, message="first <b>Tom & Jerry</b>")
        sim.deliver_now()
        send(sim, message="second message", recipients=[OTHER])
        send_otp(sim)
        sim.deliver_now()
        response = requests.get(sim.inbox_url, timeout=5)
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        page = response.text
        assert '<meta http-equiv="refresh" content="3">' in page
        assert "first &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in page
        assert "<b>Tom" not in page
        code = sim.last_otp_code(NUMBER)
        assert code is not None
        assert page.index(code) < page.index("second message") < page.index("first &lt;b&gt;")
        assert "http://" not in page.replace(sim.inbox_url, "")  # nothing loaded from elsewhere

    def test_search_by_number_text_or_reference(self, sim: Simulator) -> None:
        send(sim, message="parcel on its way")
        send(sim, message="flash sale", recipients=[OTHER])
        reference = send_otp(sim).json()["result"]["reference"]
        sim.deliver_now()

        def texts(query: str) -> list[str]:
            answer = requests.get(
                sim.inbox_url + "_sim/inbox.json", params={"q": query}, timeout=5
            )
            return [item["text"] for item in answer.json()["items"]]

        assert texts("parcel") == ["parcel on its way"]
        assert texts("FLASH") == ["flash sale"]
        assert texts("089-876-5432") == ["flash sale"]  # 0… finds 66…
        assert len(texts(NUMBER_LOCAL)) == 2  # the parcel and the code
        assert len(texts(reference)) == 1
        assert len(texts("")) == 3
        page = requests.get(sim.inbox_url, params={"q": "parcel"}, timeout=5).text
        assert "parcel on its way" in page
        assert "flash sale" not in page
        assert 'value="parcel"' in page
        nothing = requests.get(sim.inbox_url, params={"q": "<i>x</i>"}, timeout=5).text
        assert "No SMS matches “&lt;i&gt;x&lt;/i&gt;”" in nothing

    def test_a_big_inbox_shows_the_newest_page(self, sim: Simulator) -> None:
        from django_sepsms.simulator.inbox import PAGE_SIZE

        numbers = [f"668{i:08d}" for i in range(PAGE_SIZE + 50)]
        sim.credits = 10**6
        send(sim, message="to everyone", recipients=numbers[:1000])
        sim.deliver_now()
        page = requests.get(sim.inbox_url, timeout=5).text
        assert page.count("<tr><td>") == PAGE_SIZE
        assert f"The newest {PAGE_SIZE} of {len(numbers)} are shown." in page

    def test_empty_page(self, sim: Simulator) -> None:
        assert "No SMS yet" in requests.get(sim.inbox_url, timeout=5).text

    def test_json(self, sim: Simulator) -> None:
        sent_uuid(sim, message="hello json")
        sim.deliver_now()
        reference = send_otp(sim).json()["result"]["reference"]
        items = requests.get(sim.inbox_url + "_sim/inbox.json", timeout=5).json()["items"]
        assert [item["otpReference"] for item in items] == [reference, None]
        assert items[1]["text"] == "hello json"
        assert items[1]["status"] == "success"
        assert set(items[0]) >= {"time", "msisdn", "origin", "text", "smsUuid", "txId", "status"}


# -- the management command ----------------------------------------------------------------


def test_management_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django is not configured")
    from io import StringIO

    from django.core.management import call_command

    from django_sepsms.management.commands import sepsms_simulator

    seen: dict[str, Any] = {}

    def serve(simulator: Simulator) -> None:
        seen["health"] = requests.get(simulator.inbox_url + "_sim/health", timeout=5).json()
        seen["failing"] = set(simulator.failing_numbers)
        requests.post(simulator.inbox_url + "_sim/reset", timeout=5)  # keeps what was given
        seen["switches"] = requests.get(simulator.inbox_url + "_sim/switches", timeout=5).json()
        seen["key_works"] = requests.get(
            simulator.base_url + contract.PATH_BALANCE,
            headers={contract.API_KEY_HEADER: "sk_sep_dev"},
            timeout=5,
        ).json()
        raise KeyboardInterrupt

    monkeypatch.setattr(sepsms_simulator, "serve_until_interrupted", serve)
    out = StringIO()
    call_command(
        "sepsms_simulator",
        "--port=0",
        "--api-key=sk_sep_dev",
        "--credits=50",
        "--fail-number=0812345678",
        "--block-number=66898765432",
        "--duplicate-webhooks",
        "--reverse-webhooks",
        "--webhook-url=http://127.0.0.1:9/hooks",
        stdout=out,
    )
    text = out.getvalue()
    assert seen["health"] == {"ok": True}
    assert seen["failing"] == {"0812345678"}
    assert seen["switches"]["blocked_numbers"] == ["66898765432"]
    assert seen["switches"]["webhook_duplicates"] is True
    assert seen["switches"]["webhook_reverse"] is True
    assert "_sim/switches" in text
    assert seen["key_works"] == {"result": {"balance": 50}}
    base_url = re.search(r"API base URL: (\S+)", text)
    assert base_url is not None
    assert f'"BASE_URL": "{base_url.group(1)}", "API_KEY": "sk_sep_dev"' in text
    assert '"WEBHOOK_SECRETS": ["whsec_simulator"]' in text
    assert "Simulator stopped." in text
