"""Messages and codes: sending, status and recipients, schedules, OTP send and verify."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from django_sepsms import contract
from django_sepsms.simulator import Simulator
from tests.simulator.helpers import (
    NUMBER,
    NUMBER_LOCAL,
    OTHER,
    Receiver,
    call,
    error_code,
    send,
    send_otp,
    sent_uuid,
    status_of,
    verify,
    wait_until,
)

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
