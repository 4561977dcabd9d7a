"""The Simulator facade: its URLs and key, and what every request goes through."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import requests

from django_sepsms import contract
from django_sepsms.simulator import Simulator
from tests.simulator.helpers import call, error_code, send, sent_uuid


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
