"""HTTP plumbing: request and response objects, and the threaded server.

The server reads each request into a :class:`Request` and writes back the
:class:`Response` its ``answer`` callable gives; it knows no endpoint. The
helpers build JSON answers, the error envelope and the method checks.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict

from .. import contract
from .wire import ERROR_BODY_TOO_LARGE, ERROR_METHOD_NOT_ALLOWED, ApiError

logger = logging.getLogger("django_sepsms.simulator")

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Request:
    """One HTTP request as the simulator's handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    client_ip: str
    client_port: int = 0


@dataclass
class Response:
    """One HTTP answer: status, body, its content type and extra headers."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """``payload`` as a JSON answer."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, headers=headers or {})


def error_response(error: ApiError) -> Response:
    """``error`` in the provider's envelope: ``{"success": false, "error": {...}}``."""
    payload: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        payload["details"] = error.details
    return json_response(error.status, {"success": False, "error": payload}, error.headers)


def require_method(request: Request, method: str) -> None:
    """Refuse ``request`` with a ``405`` unless it uses ``method``."""
    if request.method != method:
        raise method_not_allowed([method])


def method_not_allowed(allowed: list[str]) -> ApiError:
    """The ``405`` naming the ``allowed`` methods in ``Allow``."""
    return ApiError(
        405,
        ERROR_METHOD_NOT_ALLOWED,
        "Method not allowed.",
        headers={"Allow": ", ".join(sorted(set(allowed)))},
    )


class DropConnection(Exception):
    """Close the client's connection without a word."""


class HttpServer(ThreadingHTTPServer):
    """A thread per connection; each request is answered by ``answer``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], answer: Callable[[Request], Response]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.answer = answer
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "SEPSMS-Simulator/1.0"
    # Headers and body are written separately: without this, Nagle's algorithm
    # holds the body back until the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        try:
            response = self.server.answer(self._read_request())
        except DropConnection:
            self.close_connection = True
            return
        except ApiError as error:
            response = error_response(error)
        except Exception:
            logger.exception("Simulator failed on %s %s", self.command, self.path)
            response = error_response(ApiError(500, contract.ERROR_SERVER, "Simulator error."))
        self._write(response)

    def _read_request(self) -> Request:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, ERROR_BODY_TOO_LARGE, "Missing or too large Content-Length.")
        url = urlsplit(self.path)
        return Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers=CaseInsensitiveDict(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
            client_ip=str(self.client_address[0]),
            client_port=int(self.client_address[1]),
        )

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout during delay_next): nothing to tell it.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds no key: keys travel in a header, never logged.
        logger.debug("%s %s", self.address_string(), format % args)
