"""The simulated API's routes: keys and scopes, rate limits, armed faults and delays."""

from __future__ import annotations

import time

import pytest
import requests

from django_sepsms import contract
from django_sepsms.simulator import Simulator
from tests.simulator.helpers import NUMBER, call, error_code, send, send_otp

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
