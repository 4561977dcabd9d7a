"""Webhooks: signed, in order, duplicated, reversed, retried, given up."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from django_sepsms import contract
from django_sepsms.simulator import Simulator
from django_sepsms.webhooks.signature import parse_signature_header, signature_matches
from tests.simulator.helpers import (
    NUMBER,
    NUMBER_LOCAL,
    OTHER,
    SECRETS,
    Receiver,
    sent_uuid,
    status_of,
    wait_until,
)


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

    def test_gives_up_after_retries(
        self, sim: Simulator, caplog: pytest.LogCaptureFixture
    ) -> None:
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
        # Said where the simulator runs, with what to look at: not only in the log above.
        given_up = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(given_up) == 3, given_up
        assert {r.name for r in given_up} == {"django_sepsms.simulator"}
        assert all(sim.webhook_url in r.getMessage() for r in given_up)
        assert "trailing slash" in given_up[0].getMessage()

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
