"""TLS failures against a real TLS server on this machine: which ones mean "never sent"."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from django_sepsms.backends.base import OutgoingSms
from django_sepsms.backends.sepsms import SepsmsBackend
from django_sepsms.exceptions import AmbiguousRequestError, NetworkError
from tests.helpers import KEY

SMS = OutgoingSms("Hello", ["66812345678"], "TESTSHOP")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    command += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    return key, cert


def _read_request(conn: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return body


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Callable[[], tuple[int, list[bytes]]]]:
    """Start a TLS server that reads each whole request, then answers with a
    corrupt TLS record: the provider got it, the answer is lost."""
    listeners: list[socket.socket] = []

    def start() -> tuple[int, list[bytes]]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(certificate[1]), str(certificate[0]))
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        received: list[bytes] = []

        def serve() -> None:
            while True:
                try:
                    raw, _ = listener.accept()
                except OSError:
                    return
                try:
                    conn = context.wrap_socket(raw, server_side=True)
                    received.append(_read_request(conn))
                    plain = socket.socket(fileno=conn.detach())
                    plain.sendall(b"\x17\x03\x03\x00\x30" + os.urandom(0x30))
                    plain.close()
                except (OSError, ssl.SSLError):
                    raw.close()  # a client that refused the handshake

        threading.Thread(target=serve, daemon=True).start()
        return listener.getsockname()[1], received

    yield start
    for listener in listeners:
        listener.close()


def _backend(port: int) -> SepsmsBackend:
    return SepsmsBackend(
        base_url=f"https://127.0.0.1:{port}/api/v2", max_retries=3, sleep=lambda _: None
    )


def test_a_tls_error_after_the_request_went_out_is_ambiguous(
    tls_server: Callable[[], tuple[int, list[bytes]]],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, received = tls_server()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[1]))  # trusted
    with (
        override_settings(SEPSMS={"API_KEY": KEY, "THROTTLE": False}),
        pytest.raises(AmbiguousRequestError),
    ):
        _backend(port).send_message(SMS)
    assert len(received) == 1  # sent once, never again


def test_a_refused_certificate_means_nothing_was_sent(
    tls_server: Callable[[], tuple[int, list[bytes]]],
) -> None:
    port, received = tls_server()  # its certificate is trusted by nobody
    with (
        override_settings(SEPSMS={"API_KEY": KEY, "THROTTLE": False}),
        pytest.raises(NetworkError) as info,
    ):
        _backend(port).send_message(SMS)
    assert info.value.code == "network.connect"
    assert received == []
