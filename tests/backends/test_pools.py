"""One connection pool per process and configuration: kept alive, shared, never across a fork."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import override_settings

from django_sepsms import contract, send_sms
from django_sepsms.backends import pools
from django_sepsms.backends.base import OutgoingSms
from django_sepsms.backends.pools import close_pools
from django_sepsms.backends.sepsms import SepsmsBackend
from django_sepsms.exceptions import PermissionDeniedError
from django_sepsms.models import Message
from django_sepsms.simulator import Simulator
from tests.backends.proxy import CountingRelay
from tests.helpers import KEY, http_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_pools() -> Iterator[None]:
    close_pools()
    yield
    close_pools()


@pytest.fixture
def relay(sim: Simulator) -> Iterator[CountingRelay]:
    """The simulator behind a relay that counts the connections made to it."""
    sim.credits = 10**6
    counting = CountingRelay(sim.base_url)
    # A loaded machine may keep the simulator, in this process, from answering
    # within the suite's 2 s; a timed-out connection is not reused.
    settings = http_settings(sim, BASE_URL=counting.base_url, THROTTLE=False, TIMEOUT=30)
    with override_settings(SEPSMS=settings):
        yield counting
    counting.close()


def _ports(sim: Simulator, count: int) -> list[int]:
    """The client ports of the last ``count`` requests the simulator got."""
    return [r.client_port for r in sim.requests[-count:]]


@pytest.mark.slow
@pytest.mark.django_db
def test_1000_single_sends_from_one_process_open_at_most_three_connections(
    relay: CountingRelay,
) -> None:
    for i in range(1000):
        send_sms("Hi", [f"0812{i:06d}"])  # a backend of its own each time
    assert Message.objects.filter(status=Message.Status.PENDING).count() == 1000
    assert relay.accepted <= 3


@pytest.mark.slow
@pytest.mark.parametrize("threads", [3, 8])
def test_1000_single_sends_from_threads_open_a_connection_a_thread(
    relay: CountingRelay, threads: int
) -> None:
    """As many connections as requests in flight at once, up to the pool's size.

    Each send makes its own backend, as ``send_sms()`` without ``backend=``
    does (``send_sms()`` itself would lock SQLite's test database).
    """
    failures: list[BaseException] = []

    def send(first: int) -> None:
        try:
            for i in range(first, 1000, threads):
                SepsmsBackend().send_message(OutgoingSms("Hi", [f"66812{i:06d}"], "TESTSHOP"))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    workers = [threading.Thread(target=send, args=(first,)) for first in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert relay.accepted <= threads


def test_every_backend_of_a_configuration_shares_one_kept_alive_connection(
    sim: Simulator,
) -> None:
    backends = [SepsmsBackend() for _ in range(5)]
    for b in backends:
        b.get_balance()
    assert len({id(b._session) for b in backends}) == 1
    assert len(set(_ports(sim, 5))) == 1


def test_a_backends_close_leaves_the_pool_open_and_close_pools_closes_it(
    sim: Simulator,
) -> None:
    with SepsmsBackend() as b:
        b.get_balance()
        session = b._session
    assert b._session is None
    SepsmsBackend().get_balance()
    assert len(set(_ports(sim, 2))) == 1  # the connection outlived close()
    assert session is not None
    adapter = session.get_adapter(sim.base_url)
    close_pools()
    assert not adapter.poolmanager.pools  # type: ignore[attr-defined]
    b.get_balance()  # a backend keeps working: a new pool, a new connection
    assert b._session is not session
    assert len(set(_ports(sim, 2))) == 2


def test_each_request_carries_its_own_backends_key_and_the_pool_none(sim: Simulator) -> None:
    writer, reader = SepsmsBackend(), SepsmsBackend(api_key="sk_sep_readonly")
    assert writer.get_balance() == sim.credits
    with pytest.raises(PermissionDeniedError):  # its key has no credit:read
        reader.get_balance()
    assert writer.get_balance() == sim.credits
    assert writer._session is reader._session
    assert [r.headers[contract.API_KEY_HEADER] for r in sim.requests[-3:]] == [
        KEY,
        "sk_sep_readonly",
        KEY,
    ]
    session = writer._session
    assert session is not None
    assert contract.API_KEY_HEADER not in session.headers
    shown = repr(vars(writer._pool)) + repr(pools._registry.pools)
    assert KEY not in shown


def test_two_configurations_never_share_a_pool(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    by_ip = SepsmsBackend()
    by_name = SepsmsBackend(base_url=sim.base_url.replace("127.0.0.1", "localhost"))
    by_ip.get_balance()
    by_name.get_balance()
    assert by_ip._pool is not None
    usual_ca = by_ip._pool.key.verify  # True, or the bundle this machine names
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "other-ca.pem"))
    other_ca = SepsmsBackend()
    other_ca.get_balance()
    with override_settings(SEPSMS={**http_settings(sim), "SEND_CONCURRENCY": 32}):
        bigger = SepsmsBackend()
        bigger.get_balance()
    sessions = [b._session for b in (by_ip, by_name, other_ca, bigger)]
    assert len({id(s) for s in sessions}) == 4
    assert len(set(_ports(sim, 4))) == 4
    keys = {b._pool.key for b in (by_ip, by_name, other_ca, bigger)}  # type: ignore[union-attr]
    assert {k.host for k in keys} == {"127.0.0.1", "localhost"}
    assert {k.verify for k in keys} == {usual_ca, str(tmp_path / "other-ca.pem")}
    assert {k.size for k in keys} == {pools.MIN_POOL_SIZE, 32}


def test_a_proxy_from_the_environment_is_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://sepsms.example/api/v2"
    direct = pools.key_for(url, size=10)
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@proxy.example:3128")
    proxied = pools.key_for(url, size=10)
    assert proxied != direct
    assert proxied.proxy == "http://user:secret@proxy.example:3128"
    assert "secret" not in repr(proxied)
    monkeypatch.setenv("NO_PROXY", "sepsms.example")
    assert pools.key_for(url, size=10) == direct == pools.PoolKey.for_url(url, size=10)


def test_no_cookie_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cookie set in answer to one key's request would go with every key's."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"result": {"balance": 7}}'
            self.send_response(200)
            self.send_header("Set-Cookie", "session=of-the-first-key; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with override_settings(SEPSMS={"API_KEY": KEY, "THROTTLE": False}):
            b = SepsmsBackend(base_url=f"http://127.0.0.1:{server.server_port}/api/v2")
            assert b.get_balance() == b.get_balance() == 7
        assert b._session is not None
        assert not list(b._session.cookies)
    finally:
        server.shutdown()
        server.server_close()


def test_a_connection_idle_too_long_is_not_reused(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = SepsmsBackend()
    b.get_balance()
    b.get_balance()
    assert len(set(_ports(sim, 2))) == 1
    monkeypatch.setattr(pools, "IDLE_SECONDS", 0.0)
    b.get_balance()
    assert len(set(_ports(sim, 2))) == 2


def test_a_process_that_did_not_make_a_pool_never_uses_it(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process id is checked on every use, even for a fork no hook saw."""
    b = SepsmsBackend()
    b.get_balance()
    inherited = b._pool
    pid = os.getpid()
    monkeypatch.setattr(pools.os, "getpid", lambda: pid + 1)
    b.get_balance()
    assert inherited is not None
    assert b._pool is not inherited
    assert len(set(_ports(sim, 2))) == 2


def test_a_forked_child_opens_its_own_connection_and_the_parents_keeps_working(
    sim: Simulator,
) -> None:
    inherited = SepsmsBackend()
    inherited.get_balance()
    (parent_port,) = _ports(sim, 1)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's coverage is not collected
        status = 1
        try:
            os.close(read)
            if pools._registry.pools:  # the fork hook gave the child none
                raise SystemExit
            inherited.get_balance()  # a backend the parent made, holding its pool
            SepsmsBackend().get_balance()  # and one made here
            os.write(write, b"ok")
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        said = answer.read()
    _, status = os.waitpid(child, 0)
    assert (said, os.waitstatus_to_exitcode(status)) == (b"ok", 0)
    child_ports = _ports(sim, 2)
    assert len(set(child_ports)) == 1  # the child's two backends share its pool...
    assert parent_port not in child_ports  # ...which is not the parent's
    inherited.get_balance()
    assert _ports(sim, 1) == [parent_port]  # the parent's connection is untouched


_EXIT_SCRIPT = """
import atexit, sys
held = []
# Handlers run last registered first: this one, registered before the pools'
# own (at their import), runs after it.
atexit.register(lambda: print("pools left open:", len(held[0].poolmanager.pools)))
import django
django.setup()
from django.test import override_settings
from django_sepsms.backends import pools
from django_sepsms.backends.sepsms import SepsmsBackend
url, way = sys.argv[1:]
with override_settings(SEPSMS={"API_KEY": "sk_sep_test", "THROTTLE": False}):
    backend = SepsmsBackend(base_url=url)
    backend.get_balance()
held.append(backend._session.get_adapter(url))
if way == "without-atexit":
    atexit.unregister(pools.close_pools)
"""


@pytest.mark.parametrize(("way", "left"), [("with-atexit", 0), ("without-atexit", 1)])
def test_pools_are_closed_at_exit(sim: Simulator, way: str, left: int) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT, sim.base_url, way],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pools left open: {left}"
