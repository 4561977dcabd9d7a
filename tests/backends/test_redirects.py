"""A provider answer that redirects is never followed: the API key and the body stay put."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from django_sepsms.backends.base import OutgoingSms
from django_sepsms.backends.pools import close_pools
from django_sepsms.backends.sepsms import SepsmsBackend
from django_sepsms.exceptions import ConfigurationError

KEY = "sk_sep_redirect_test"


class _Server:
    """A local HTTP server that answers every request with ``status`` and ``location``."""

    def __init__(self, status: int = 200, location: str = "") -> None:
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def elsewhere() -> Iterator[_Server]:
    with _Server() as server:
        yield server


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_nothing_goes_to_its_target(
    status: int, elsewhere: _Server, settings: Any
) -> None:
    settings.SEPSMS = {**settings.SEPSMS, "THROTTLE": False, "MAX_RETRIES": 0}
    with _Server(status, elsewhere.url + "/api/v2/message/send") as provider:
        try:
            with SepsmsBackend(api_key=KEY, base_url=provider.url + "/api/v2") as backend:
                with pytest.raises(ConfigurationError, match="redirect"):
                    backend.send_message(OutgoingSms("hello", ["66812345678"], "TEST"))
                with pytest.raises(ConfigurationError, match="redirect"):
                    backend.get_balance()
        finally:
            close_pools()
    assert len(provider.seen) == 2
    assert elsewhere.seen == []
