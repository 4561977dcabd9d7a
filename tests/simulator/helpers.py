"""What the simulator's tests share: a webhook receiver, numbers and request helpers."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from django_sepsms import contract
from django_sepsms.simulator import Simulator

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
