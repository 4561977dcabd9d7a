"""The control endpoints under /_sim/: switches, faults, keys and delivery over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from django_sepsms import contract
from django_sepsms.simulator import Simulator
from tests.simulator.helpers import NUMBER, call, error_code, send, sent_uuid


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
