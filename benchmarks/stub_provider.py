"""A fast stand-in for the provider's HTTP API, for throughput figures.

    python benchmarks/stub_provider.py --port 0 [--latency 0.002]

prints its base URL (``http://127.0.0.1:PORT/api/v2``) on stdout and serves
until its standard input closes, or until SIGTERM or SIGINT. In a benchmark::

    with StubProvider(latency=0.0) as stub:
        settings = {"BASE_URL": stub.base_url, "API_KEY": stub.api_key, ...}

Why not the simulator: ``django_sepsms.simulator`` answers like the provider
in every detail a behaviour test needs (keys and scopes, rate limits, faults,
delivery reports, webhooks), and so it parses, checks, records and stores each
request in a threaded ``http.server``. Measured against it, the bare baseline
of a throughput benchmark reaches only about 50,000 recipients a second: the
simulator is the bottleneck, and a ratio of the app to that baseline says more
about the simulator than about the app (it flattered ``send_sms()`` by about
ten times). This stub does nothing but answer, in microseconds: one asyncio
process (uvloop when installed), HTTP/1.1 with keep-alive, the standard
library only. The simulator stays for behaviour tests.

Routes, under ``/api/v2`` and with the provider's answer shapes (those
``django_sepsms.backends.sepsms`` reads, as the simulator gives them):

- ``POST /message/send``: ``{"result": {"uuid", "refNo", "totalMsisdn",
  "totalCredit", "blockedCount", "status"}}``, counting the recipients sent;
- ``POST /otp/send``: ``{"result": {"uuid", "reference", "destination",
  "expiresAt", "ttlSeconds"}}``; every code is the first ``codeLength`` digits
  of ``12345678``;
- ``POST /otp/verify``: ``{"result": {"reference", "verified"}}``, each code
  good once;
- ``GET /message/credit/balance``: ``{"result": {"balance"}}``.

Any non-empty ``X-API-Key`` is accepted (none: ``401``); other paths answer
``404`` and a wrong method ``405``, in the provider's error envelope
``{"success": false, "error": {"code", "message"}}``. ``--latency`` holds every
answer that many seconds, as a network round trip would; answers on one
connection keep their order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import requests

try:  # optional: a faster event loop
    import uvloop
except ImportError:  # pragma: no cover - depends on the environment
    uvloop = None

#: The path of the provider's API v2 under its host (``contract.DEFAULT_BASE_URL``).
API_PREFIX = "/api/v2"
#: The key ``StubProvider`` gives its clients (the stub takes any non-empty one).
API_KEY = "sk_sep_bench"
#: Every OTP code is this, cut to the ``codeLength`` asked for.
OTP_DIGITS = "12345678"

_MAX_HEAD = 64 * 1024
_REFERENCE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_OTP_KEPT = 100_000  # references remembered for /otp/verify, oldest dropped first
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    431: "Request Header Fields Too Large",
}

Answer = tuple[int, dict[str, Any]]


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"success": False, "error": {"code": code, "message": message}}


def _segments(text: str, recipients: int) -> int:
    """Credits of ``text`` to ``recipients`` numbers: ASCII as GSM-7 (160, then 153
    a part), anything else as UCS-2 (70, then 67); close enough for a stub."""
    single, part = (160, 153) if text.isascii() else (70, 67)
    parts = 1 if len(text) <= single else -(-len(text) // part)
    return parts * recipients


class _Provider:
    """What the stub knows: its credit, its OTP references, how long to hold answers."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.balance = 10**12
        self.sent = itertools.count(1)
        self.codes: dict[str, str] = {}
        self.routes: dict[str, tuple[str, Callable[[bytes], Answer]]] = {
            API_PREFIX + "/message/send": ("POST", self.send),
            API_PREFIX + "/message/credit/balance": ("GET", self.credit),
            API_PREFIX + "/otp/send": ("POST", self.otp_send),
            API_PREFIX + "/otp/verify": ("POST", self.otp_verify),
        }

    def answer(self, method: str, target: str, key: str, body: bytes) -> Answer:
        route = self.routes.get(target.partition("?")[0].rstrip("/"))
        if route is None:
            return _error(404, "resource.not_found", "Not found.")
        if method != route[0]:
            return _error(405, "method.not_allowed", f"Use {route[0]}.")
        if not key:
            return _error(401, "auth.invalid_credentials", "API key is missing or invalid")
        try:
            return route[1](body)
        except (ValueError, TypeError, AttributeError, KeyError):
            return _error(400, "validation.invalid", "The request body is not what it should be.")

    def send(self, body: bytes) -> Answer:
        payload = json.loads(body)
        recipients = payload["recipients"]
        if not isinstance(recipients, list) or not recipients:
            raise ValueError("recipients")
        credit = _segments(str(payload["message"]), len(recipients))
        self.balance -= credit
        return 200, {
            "result": {
                "uuid": str(uuid.uuid4()),
                "refNo": f"SP{next(self.sent):010d}",
                "totalMsisdn": len(recipients),
                "totalCredit": credit,
                "blockedCount": 0,
                "status": "scheduled" if payload.get("scheduledTime") else "pending",
            }
        }

    def credit(self, body: bytes) -> Answer:
        return 200, {"result": {"balance": self.balance}}

    def otp_send(self, body: bytes) -> Answer:
        payload = json.loads(body)
        destination = str(payload["destination"])
        ttl = int(payload.get("ttlSeconds") or 300)
        length = int(payload.get("codeLength") or 6)
        number = next(self.sent)
        reference = "".join(_REFERENCE_ALPHABET[(number // 36**i) % 36] for i in range(6))
        if len(self.codes) >= _OTP_KEPT:
            del self.codes[next(iter(self.codes))]
        self.codes[reference] = OTP_DIGITS[:length]
        expires = datetime.now(UTC) + timedelta(seconds=ttl)
        return 200, {
            "result": {
                "uuid": str(uuid.uuid4()),
                "reference": reference,
                "destination": "66" + destination[1:] if destination[:1] == "0" else destination,
                "expiresAt": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "ttlSeconds": ttl,
            }
        }

    def otp_verify(self, body: bytes) -> Answer:
        payload = json.loads(body)
        reference = str(payload["reference"]).strip().upper()
        pin = str(payload["pin"]).strip()
        verified = self.codes.get(reference) == pin
        if verified:
            del self.codes[reference]
        return 200, {"result": {"reference": reference, "verified": verified}}


def _response(status: int, payload: dict[str, Any], keep_alive: bool) -> bytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed as they arrive, answered in order."""

    def __init__(self, provider: _Provider, open_connections: set[_Connection]) -> None:
        self.provider = provider
        self.open_connections = open_connections
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closing = False
        # Answers held for the latency: (due time, bytes, close after).
        self.held: deque[tuple[float, bytes, bool]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.open_connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open_connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while not self.closing:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self.reply(*_error(431, "request.too_large", "Headers too large."), False)
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self.reply(*_error(400, "request.invalid", "Not an HTTP request."), False)
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.reply(*_error(411, "request.length", "Send a Content-Length."), False)
                return
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return  # the rest of the body is still on its way
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            connection = headers.get("connection", "").lower()
            keep_alive = (
                connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            )
            status, payload = self.provider.answer(
                method, target, headers.get("x-api-key", ""), body
            )
            self.reply(status, payload, keep_alive)

    def reply(self, status: int, payload: dict[str, Any], keep_alive: bool) -> None:
        data = _response(status, payload, keep_alive)
        self.closing = not keep_alive
        latency = self.provider.latency
        if latency <= 0 and not self.held:
            self.write(data, not keep_alive)
            return
        loop = asyncio.get_running_loop()
        self.held.append((loop.time() + latency, data, not keep_alive))
        if self.timer is None:
            self.timer = loop.call_at(self.held[0][0], self.release)

    def release(self) -> None:
        """Send every held answer that is due, then wait for the next one."""
        self.timer = None
        loop = asyncio.get_running_loop()
        while self.held and self.held[0][0] <= loop.time():
            _, data, close = self.held.popleft()
            self.write(data, close)
        if self.held and self.transport is not None:
            self.timer = loop.call_at(self.held[0][0], self.release)

    def write(self, data: bytes, close: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        if close:
            self.transport.close()


def _stop_when_stdin_closes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, ValueError):
        pass
    with contextlib.suppress(RuntimeError):  # the loop may have ended already
        loop.call_soon_threadsafe(stop.set)


async def serve(host: str, port: int, latency: float) -> None:
    """Serve until stdin closes or SIGTERM/SIGINT; print the base URL once listening."""
    loop = asyncio.get_running_loop()
    provider = _Provider(latency)
    open_connections: set[_Connection] = set()
    server = await loop.create_server(
        lambda: _Connection(provider, open_connections), host, port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"http://{host}:{bound}{API_PREFIX}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    threading.Thread(target=_stop_when_stdin_closes, args=(loop, stop), daemon=True).start()
    await stop.wait()
    server.close()
    for connection in list(open_connections):
        if connection.transport is not None:
            connection.transport.close()


def _run(main: Coroutine[Any, Any, None]) -> None:
    if uvloop is not None:
        uvloop.run(main)
    else:
        asyncio.run(main)


class StubProvider:
    """The stub in a process of its own, as the provider is another machine.

    ``base_url`` and ``api_key`` are what ``SEPSMS`` needs. Start-up waits for
    the printed URL, then for a first answer, up to ``startup_timeout`` seconds
    (a loaded machine can be slow to start a process).
    """

    api_key = API_KEY

    def __init__(self, latency: float = 0.0, *, startup_timeout: float = 60.0) -> None:
        self.latency = latency
        self.startup_timeout = startup_timeout
        self.base_url = ""
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> StubProvider:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--port", "0", "--latency", repr(self.latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        try:
            self.base_url = self._printed_url(deadline)
            self._wait_until_answering(deadline)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _printed_url(self, deadline: float) -> str:
        assert self.process is not None
        assert self.process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(
                f"The stub provider printed no URL in {self.startup_timeout:g} s."
            ) from None
        if not line.startswith("http://"):
            raise RuntimeError(f"The stub provider did not start (printed {line!r}).")
        return line.strip()

    def _wait_until_answering(self, deadline: float) -> None:
        with requests.Session() as session:
            while True:
                try:
                    session.get(
                        self.base_url + "/message/credit/balance",
                        headers={"X-API-Key": self.api_key},
                        timeout=5,
                    ).raise_for_status()
                    return
                except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (the default).")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="Seconds to hold each answer (default 0)."
    )
    args = parser.parse_args(argv)
    _run(serve(args.host, args.port, args.latency))


if __name__ == "__main__":
    main()
