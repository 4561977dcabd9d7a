"""The HTTP side of talking to the provider: the process's shared connection
pool (``pools``), retries with back-off (and the provider's ``Retry-After``),
the throttle, and what a failed or odd answer means (sent, not sent, or perhaps
acted on)."""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from django.views.decorators.debug import sensitive_variables
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .. import contract
from ..conf import sepsms_settings
from ..exceptions import (
    AmbiguousRequestError,
    AmbiguousTimeoutError,
    ConfigurationError,
    NetworkError,
    NetworkTimeoutError,
    ProviderUnavailableError,
    SepsmsError,
)
from ..telemetry import hooks as telemetry
from . import pools, throttle
from .errors import error_from_response

logger = logging.getLogger("django_sepsms.http")

#: POSTs may be retried only on answers that prove nothing was done.
_POST_RETRY_STATUSES = frozenset({429})
_GET_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Someone is waiting for an OTP: never hold its request longer than this.
_OTP_MAX_WAIT = 1.0
#: Failures that happen before a byte of the request leaves this server.
_NOT_SENT_ERRORS = (requests.ConnectTimeout, requests.exceptions.ProxyError)
_BAD_URL_ERRORS = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
)


class _Hidden(str):
    """A secret that works as the ``str`` it is and shows as ``'********'``.

    ``repr`` is what error pages show of every local (``DEBUG = True``
    included, where ``sensitive_variables`` is off) and what ``%r`` messages
    print: the key is seen that way in the headers the HTTP client carries.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (urllib3 nests its reasons in ``args``)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]


def _never_reached_server(exc: requests.RequestException) -> bool:
    """True when the connection failed before any byte of the request was sent.

    A TLS error counts only when the server's certificate was refused: other
    TLS errors can also happen while the answer is read, after the request
    went out.
    """
    if isinstance(exc, _NOT_SENT_ERRORS):
        return True
    return any(
        isinstance(cause, NewConnectionError | ConnectTimeoutError | ssl.SSLCertVerificationError)
        for cause in _causes(exc)
    )


class HttpTransport:
    """Calls to the provider's REST API through the process's shared connection pool.

    Mixed into a backend ahead of ``BaseBackend``: it supplies the backend's
    ``open()`` and ``close()``, and ``_request()``, which makes one call with
    the throttle, the retries and the mapping of failures to exceptions.
    """

    @sensitive_variables("api_key")
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float,
        connect_timeout: float,
        max_retries: int,
        max_retry_wait: float,
        sleep: Callable[[float], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._api_key = _Hidden(api_key)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._pool: pools.Pool | None = None  # the shared pool, held until close()
        self._pool_lock = threading.Lock()
        self._depth = 0
        self._opened_pool = False  # taken by open(), so the matching close() lets go

    # -- connection ---------------------------------------------------------

    @property
    def _session(self) -> requests.Session | None:
        """The shared session this backend holds, if any."""
        pool = self._pool
        return None if pool is None else pool.session

    def open(self) -> None:
        """Take the shared pool now (checking the key); calls until the matching
        :meth:`close` keep it. Without ``open()``, the first call takes it."""
        with self._pool_lock:
            self._depth += 1
            if self._pool is None:
                self._pool = self._take_pool()
                self._opened_pool = self._depth == 1

    def close(self) -> None:
        """Let go of the pool taken by the matching :meth:`open`; at the
        outermost level, of whichever pool this backend holds.

        The pool's connections stay open for the process's other backends and
        later calls: ``django_sepsms.backends.pools.close_pools()`` closes them.
        """
        with self._pool_lock:
            if self._depth > 0:
                self._depth -= 1
                if self._depth or not self._opened_pool:
                    return
            self._pool, self._opened_pool = None, False

    def _take_pool(self) -> pools.Pool:
        if not self._api_key:
            raise ConfigurationError(
                'SEPSMS["API_KEY"] is not set: the HTTP backend cannot authenticate.'
            )
        size = max(sepsms_settings.SEND_CONCURRENCY, pools.MIN_POOL_SIZE)
        return pools.pool_for(pools.key_for(self.base_url, size=size))

    def _current_pool(self) -> pools.Pool:
        pool = self._pool
        if pool is None or not pool.usable():  # closed, or the parent's after a fork
            pool = self._pool = self._take_pool()
        return pool

    # -- HTTP ---------------------------------------------------------------

    # Every frame from here down (requests, urllib3, http.client) holds the key
    # header and the body, which may carry a pin or a text with a code.
    @sensitive_variables()
    @telemetry.provider_call
    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        throttle_as: str | None = None,
    ) -> Any:
        pool = self._current_pool()
        headers = {contract.API_KEY_HEADER: self._api_key}  # per request: the pool is shared
        url = self.base_url + path
        retry_statuses = _GET_RETRY_STATUSES if method == "GET" else _POST_RETRY_STATUSES
        # An OTP send has one small budget for all its waits; others, a cap on each.
        budget = _OTP_MAX_WAIT if throttle_as == "otp" else None
        spent = 0.0

        def may_wait() -> float:
            return self.max_retry_wait if budget is None else max(0.0, budget - spent)

        attempt = 0
        while True:
            attempt += 1
            telemetry.note_attempt(attempt)
            spent += self._throttle(throttle_as, may_wait())
            try:
                response = pool.request(
                    method,
                    url,
                    headers=headers,
                    json=json,
                    params=params,
                    timeout=(self.connect_timeout, self.timeout),
                    # A redirect would carry the API key and the body to wherever it points.
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                error = self._transport_error(method, path, exc)
                delay = min(self.max_retry_wait, self._back_off_delay(attempt, None))
                if (
                    isinstance(error, NetworkError)
                    and attempt <= self.max_retries
                    and delay <= may_wait()
                ):
                    self._sleep(delay)
                    spent += delay
                    continue
                raise error from None
            logger.debug("%s %s -> %s", method, path, response.status_code)
            telemetry.note_attempt(attempt, response.status_code)
            if 300 <= response.status_code < 400:
                logger.error(
                    "%s %s: HTTP %s, a redirect, not followed", method, path, response.status_code
                )
                raise ConfigurationError(
                    f"The SMS provider answered HTTP {response.status_code}, a redirect, which is "
                    'not followed (the API key would go with it): check SEPSMS["BASE_URL"].'
                )
            if response.status_code < 400:
                return self._result(response, method)
            error = error_from_response(
                response.status_code, self._json_or_none(response), response.headers
            )
            if response.status_code in retry_statuses and attempt <= self.max_retries:
                wait = self._back_off_delay(attempt, error.retry_after)
                if wait <= may_wait():
                    logger.info(
                        "%s %s: HTTP %s, retrying in %.1fs",
                        method,
                        path,
                        response.status_code,
                        wait,
                    )
                    self._sleep(wait)
                    spent += wait
                    continue
            if method != "GET" and not contract.post_was_refused(response.status_code):
                logger.error(
                    "%s %s: HTTP %s, the provider may have acted on it", method, path, error.status
                )
                raise AmbiguousRequestError(
                    f"The SMS provider failed with HTTP {error.status} and may have acted on the "
                    "request anyway.",
                    status=error.status,
                    code=error.code or f"http.{error.status}",
                )
            logger.warning("%s %s failed: HTTP %s %s", method, path, error.status, error.code)
            raise error

    def _throttle(self, name: str | None, max_wait: float) -> float:
        """Take the slots this request needs (in one cache round trip on Redis);
        return how long that waited."""
        waited: list[float] = []

        def sleep(seconds: float) -> None:
            waited.append(seconds)
            time.sleep(seconds)

        limits: list[throttle.Limit] = [("all", contract.LIMIT_ALL)]
        if name == "send":
            limits.append(("send", contract.LIMIT_SEND))
        elif name == "otp":
            limits.append(("otp", contract.LIMIT_OTP_SEND_PER_IP))
        throttle.acquire_all(limits, max_wait=max_wait, sleep=sleep)
        return sum(waited)

    def _transport_error(
        self, method: str, path: str, exc: requests.RequestException
    ) -> SepsmsError:
        if isinstance(exc, _BAD_URL_ERRORS):
            return ConfigurationError(
                f'SEPSMS["BASE_URL"] is not a usable http(s) URL: {self.base_url!r}.'
            )
        timed_out = isinstance(exc, requests.Timeout)
        if _never_reached_server(exc):
            logger.warning("%s %s: could not connect (%s)", method, path, type(exc).__name__)
            return (NetworkTimeoutError if timed_out else NetworkError)(
                "Could not connect to the SMS provider.", code="network.connect"
            )
        if method == "GET":
            logger.warning("%s %s: %s", method, path, type(exc).__name__)
            return (NetworkTimeoutError if timed_out else NetworkError)(
                "The SMS provider did not answer.", code="network.read"
            )
        logger.error("%s %s sent but unanswered (%s)", method, path, type(exc).__name__)
        return (AmbiguousTimeoutError if timed_out else AmbiguousRequestError)(
            "The request reached the SMS provider but no answer came back.",
            code="network.ambiguous",
        )

    def _back_off_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return min(self.max_retry_wait, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)

    @staticmethod
    def _json_or_none(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _result(self, response: requests.Response, method: str) -> Any:
        body = self._json_or_none(response)
        if body is None:
            # A success we cannot read: after a POST, it may well have been acted on.
            unreadable = ProviderUnavailableError if method == "GET" else AmbiguousRequestError
            raise unreadable(
                "The SMS provider answered with something other than JSON.",
                status=response.status_code,
                code="response.invalid_json",
            )
        if isinstance(body, Mapping) and body.get("success") is False:
            raise error_from_response(response.status_code, body, response.headers)
        if isinstance(body, Mapping) and "result" in body:
            return body["result"]
        return body
