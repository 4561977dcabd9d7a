"""One connection pool per process and provider configuration, shared by every backend.

A :class:`Pool` is a ``requests.Session`` whose connections are kept alive
from one send to the next, whichever backend instance and whichever thread
makes the request. Pools are keyed by what a connection depends on
(:class:`PoolKey`), never by the API key, which travels in each request's
header: the session holds no secret and keeps no cookie.

A process never uses a pool it inherited: after ``os.fork()`` the child starts
with no pools (and a pool checks the process id before every use), so a
gunicorn worker forked from a ``--preload`` master, or a task worker, opens
connections of its own. Pools are closed at interpreter exit, or by
:func:`close_pools`.
"""

from __future__ import annotations

import atexit
import functools
import http.cookiejar
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .. import __version__

#: The fewest connections a pool keeps: urllib3's own default, enough for a
#: threaded web worker's requests and a message's batches at once.
MIN_POOL_SIZE = 10
#: A pool unused for longer drops its idle connections before the next
#: request. Servers close idle connections (Apache, Node.js and uvicorn after
#: 5 s by default), and a request written just as the provider closes its
#: connection gets no answer: after a POST, an unconfirmed send.
IDLE_SECONDS = 4.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: What ``requests`` reads from the environment for an http(s) URL: its CA
#: bundle and proxy (``REQUEST_METHOD`` makes it ignore ``HTTP_PROXY``).
_ENVIRONMENT = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "REQUEST_METHOD",
    *(f"{name}_proxy" for name in ("http", "https", "all", "no")),
    *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "ALL", "NO")),
)


@dataclass(frozen=True)
class PoolKey:
    """What a connection depends on: two keys that differ never share a connection.

    ``verify`` is what ``requests`` checks the server's certificate against
    (``True``, or the bundle named by ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE``), ``proxy`` the proxy the environment names for the URL,
    ``size`` how many connections the pool keeps. The backend has no client
    certificate option; one would belong here too.
    """

    scheme: str
    host: str
    port: int | None
    verify: bool | str
    proxy: str | None = field(repr=False)  # its URL may hold a password
    size: int

    @classmethod
    def for_url(cls, url: str, *, size: int) -> PoolKey:
        """The key of requests to ``url``, with the environment as it is now."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:  # not a port: requests refuses the URL when it is used
            port = None
        proxies = requests.utils.get_environ_proxies(url)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        return cls(
            scheme=scheme,
            host=parts.hostname or parts.netloc,
            port=port,
            verify=bundle or True,
            proxy=requests.utils.select_proxy(url, proxies) if proxies else None,
            size=size,
        )


def key_for(url: str, *, size: int) -> PoolKey:
    """:meth:`PoolKey.for_url`, remembered while the variables it reads stay the
    same (reading the whole environment for proxies takes ~0.1 ms)."""
    return _remembered_key(url, size, tuple(os.environ.get(name) for name in _ENVIRONMENT))


@functools.lru_cache(maxsize=64)
def _remembered_key(url: str, size: int, environment: tuple[str | None, ...]) -> PoolKey:
    return PoolKey.for_url(url, size=size)


class Pool:
    """The session of one :class:`PoolKey` in one process, used by every thread."""

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.pid = os.getpid()
        self.session = _new_session(key.size)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle_since = time.monotonic()
        self._closed = False

    def usable(self) -> bool:
        """False once closed, or in a process that inherited it by ``fork()``."""
        return not self._closed and self.pid == os.getpid()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """``session.request(method, url, **kwargs)`` on a connection fit to reuse."""
        with self._lock:
            if not self._in_flight and time.monotonic() - self._idle_since > IDLE_SECONDS:
                # Closing a session only empties its pools: it stays usable.
                self.session.close()
            self._in_flight += 1
        try:
            return self.session.request(method, url, **kwargs)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._idle_since = time.monotonic()

    def close(self) -> None:
        """Close its connections; the backends holding it take a new pool."""
        self._closed = True
        self.session.close()


def _new_session(size: int) -> requests.Session:
    session = requests.Session()
    # urllib3's own retries are off: the transport decides what may be retried.
    # A request beyond ``size`` at once never waits for a connection: it opens
    # one of its own, closed after its answer, so TIMEOUT keeps its meaning.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=size, max_retries=0, pool_block=False)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update(
        {
            "Accept": "application/json",
            "User-Agent": f"django-sepsms/{__version__} {requests.utils.default_user_agent()}",
        }
    )
    # A cookie set in answer to one API key's request must not go with another's.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


class _Registry:
    """The pools of one process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.pools: dict[PoolKey, Pool] = {}


_registry = _Registry()
#: Pools a forked child inherited: kept, untouched. Closing them would take
#: locks a thread of the parent may have held at the fork; they belong to the
#: parent, whose connections they are.
_inherited: list[Pool] = []


def _registry_of_this_process() -> _Registry:
    if _registry.pid != os.getpid():  # a fork the hook below did not see
        _forget_inherited_pools()
    return _registry


def pool_for(key: PoolKey) -> Pool:
    """This process's pool for ``key``, made on first use."""
    registry = _registry_of_this_process()
    with registry.lock:
        pool = registry.pools.get(key)
        if pool is None or not pool.usable():
            pool = registry.pools[key] = Pool(key)
        return pool


def close_pools() -> None:
    """Close every connection pool of this process.

    Backends keep working: their next request opens a new pool. Runs at
    interpreter exit; call it between tests, or after the provider's address
    resolves elsewhere. A request in flight meanwhile may fail.
    """
    registry = _registry_of_this_process()
    with registry.lock:
        pools = list(registry.pools.values())
        registry.pools.clear()
    for pool in pools:
        pool.close()


def _forget_inherited_pools() -> None:
    global _registry
    _inherited.extend(_registry.pools.values())
    _registry = _Registry()


os.register_at_fork(after_in_child=_forget_inherited_pools)
atexit.register(close_pools)
