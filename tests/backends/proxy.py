"""A TCP relay in front of the simulator that counts the connections it accepts."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class CountingRelay:
    """Accepts connections on a port of its own and relays each, byte for byte,
    to ``base_url``'s host and port; :attr:`accepted` is how many it accepted."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        self.base_url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))
        self.accepted = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._target)
            for sock in (client, upstream):  # relay each write at once, as the ends do
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.accepted += 1
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        """Stop accepting and close every relayed connection."""
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)  # pass the end of the stream on
    except OSError:
        pass  # one side was closed
