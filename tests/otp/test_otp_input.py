"""What people and the provider type: references in either case, digits of any script."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from django_sepsms import contract, send_otp, verify_otp
from django_sepsms.models import OtpChallenge
from django_sepsms.otp import Reason
from django_sepsms.simulator import Simulator
from django_sepsms.testing import sign_webhook, webhook_body
from tests.helpers import http_settings

pytestmark = pytest.mark.django_db

THAI = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


class LowerCaseReferences(ThreadingHTTPServer):
    """A provider in front of the simulator that writes OTP references in lower case."""

    def __init__(self, upstream_base_url: str) -> None:
        upstream = urlsplit(upstream_base_url)
        self.upstream = f"{upstream.scheme}://{upstream.netloc}"
        self.references: list[str] = []
        super().__init__(("127.0.0.1", 0), _Forward)
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}{upstream.path}"


class _Forward(BaseHTTPRequestHandler):
    server: LowerCaseReferences

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}
        }
        answer = requests.post(self.server.upstream + self.path, data=body, headers=headers)
        content = answer.content
        if self.path.endswith(contract.PATH_OTP_SEND) and answer.ok:
            payload = answer.json()
            payload["result"]["reference"] = payload["result"]["reference"].lower()
            self.server.references.append(payload["result"]["reference"])
            content = json.dumps(payload).encode()
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def lower_case(sim: Simulator) -> Iterator[LowerCaseReferences]:
    proxy = LowerCaseReferences(sim.base_url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    with override_settings(SEPSMS=http_settings(sim, BASE_URL=proxy.base_url)):
        yield proxy
    proxy.shutdown()
    proxy.server_close()
    thread.join()


def test_normalise_reference() -> None:
    assert contract.normalise_reference(" a3k9x2\n") == "A3K9X2"
    assert contract.normalise_reference(None) == ""
    assert len(contract.normalise_reference("x" * 100)) == contract.OTP_REFERENCE_MAX_LENGTH
    field = OtpChallenge._meta.get_field("reference")
    assert field.max_length == contract.OTP_REFERENCE_MAX_LENGTH


def test_a_lower_case_reference_from_the_provider_still_verifies(
    sim: Simulator, lower_case: LowerCaseReferences
) -> None:
    challenge = send_otp("0812345678")
    (answered,) = lower_case.references
    assert answered.islower()
    assert challenge.reference == answered.upper()
    code = sim.last_otp_code("66812345678") or ""
    assert verify_otp(answered, code, phone="0812345678")


def test_a_lower_case_reference_through_the_api(
    sim: Simulator, lower_case: LowerCaseReferences
) -> None:
    api = APIClient()
    sent = api.post(reverse("sepsms:api-otp"), {"phone": "0812345678"}, format="json").json()
    (answered,) = lower_case.references
    body = {
        "reference": answered,
        "pin": sim.last_otp_code("66812345678"),
        "flow_token": sent["flow_token"],
    }
    response = api.post(reverse("sepsms:api-otp-verify"), body, format="json")
    assert response.status_code == 200
    assert response.json()["verified"] is True


def test_otp_verified_with_a_lower_case_reference(
    sim: Simulator, lower_case: LowerCaseReferences
) -> None:
    challenge = send_otp("0812345678")
    body = webhook_body({"reference": lower_case.references[0], "destination": "66812345678"})
    headers = sign_webhook(body, "whsec_test_current", event="otp.verified")
    response = Client().post(
        reverse("sepsms:webhook"), body, content_type="application/json", **headers
    )
    assert response.json() == {"status": "ok"}
    challenge.refresh_from_db()
    assert challenge.status == OtpChallenge.Status.VERIFIED


def test_ascii_digits() -> None:
    from django_sepsms.otp import ascii_digits

    assert ascii_digits("๑๒๓๔๕๖") == "123456"
    assert ascii_digits("123456".translate(FULL_WIDTH)) == "123456"
    assert ascii_digits("١٢٣") == "123"  # Arabic-Indic
    assert ascii_digits("12a²") == "12a²"  # a superscript is a digit, not a decimal one


@pytest.mark.parametrize("script", [THAI, FULL_WIDTH], ids=["thai", "full-width"])
def test_provider_codes_typed_in_other_digits(sim: Simulator, script: dict[int, str]) -> None:
    challenge = send_otp("0812345678")
    code = sim.last_otp_code("66812345678") or ""
    result = verify_otp(challenge.reference, code.translate(script))
    assert result.reason == Reason.VERIFIED
    verify = next(r for r in reversed(sim.requests) if r.path.endswith(contract.PATH_OTP_VERIFY))
    assert verify.json["pin"] == code


def test_a_superscript_code_is_wrong_without_asking_the_provider(sim: Simulator) -> None:
    challenge = send_otp("0812345678")
    before = len(sim.requests)
    assert verify_otp(challenge.reference, "1²3456").reason == Reason.WRONG
    assert len(sim.requests) == before
