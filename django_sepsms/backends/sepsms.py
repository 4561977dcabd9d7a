"""The SEPSMS REST API v2 over HTTP."""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .. import __version__, contract
from ..conf import otp_code_length, sepsms_settings
from ..exceptions import (
    AmbiguousRequestError,
    AmbiguousTimeoutError,
    ConfigurationError,
    NetworkError,
    NetworkTimeoutError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
    ProviderUnavailableError,
    ProviderValidationError,
    SepsmsError,
)
from . import throttle
from .base import (
    BaseBackend,
    MessageStatusResult,
    OtpSendResult,
    OtpVerifyResult,
    OutgoingSms,
    RecipientStatusResult,
    SendResult,
)
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

_OTP_VERIFY_FAILURE_CODES = frozenset(
    {
        contract.ERROR_OTP_EXPIRED,
        contract.ERROR_OTP_NOT_FOUND,
        contract.ERROR_OTP_TOO_MANY_ATTEMPTS,
    }
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


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        pass
    try:
        return int(float(value))  # "18420.0"
    except (TypeError, ValueError, OverflowError):
        return default


def _as_mapping(result: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(result, Mapping):
        raise ProviderUnavailableError(
            f"The provider's answer to {what} is not an object.", code="response.unexpected"
        )
    return result


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


class SepsmsBackend(BaseBackend):
    """Talks to SEPSMS API v2 with one pooled ``requests.Session``.

    Options default to the ``SEPSMS`` settings: ``api_key``, ``base_url``,
    ``timeout`` (read) and ``connect_timeout`` (seconds), ``max_retries``,
    ``max_retry_wait``.
    """

    supports_provider_otp = True
    thread_safe_sends = True

    @sensitive_variables("api_key")
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_retries: int | None = None,
        max_retry_wait: float | None = None,
        fail_silently: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        api_key = _Hidden(api_key if api_key is not None else sepsms_settings.API_KEY)
        self._api_key = api_key
        self.base_url = (base_url or sepsms_settings.BASE_URL).rstrip("/")
        self.timeout = timeout if timeout is not None else sepsms_settings.TIMEOUT
        self.connect_timeout = (
            connect_timeout if connect_timeout is not None else sepsms_settings.CONNECT_TIMEOUT
        )
        self.max_retries = max_retries if max_retries is not None else sepsms_settings.MAX_RETRIES
        self.max_retry_wait = (
            max_retry_wait if max_retry_wait is not None else sepsms_settings.MAX_RETRY_WAIT
        )
        self._sleep = sleep
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._depth = 0
        self._opened_session = False  # made by open(), so the matching close() ends it
        # A backend dropped without close() still closes its connections.
        self._close_on_collect: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r}>"

    # -- connection ---------------------------------------------------------

    def open(self) -> None:
        """Make the session now (checking the key); calls until the matching
        :meth:`close` share it. Without ``open()``, the first call makes it."""
        with self._session_lock:
            self._depth += 1
            if self._session is None:
                self._session = self._new_session()
                self._opened_session = self._depth == 1

    def close(self) -> None:
        """End the session made by the matching :meth:`open`; at the outermost
        level, end whichever session this backend holds."""
        with self._session_lock:
            if self._depth > 0:
                self._depth -= 1
                if self._depth or not self._opened_session:
                    return
            finalizer, self._close_on_collect = self._close_on_collect, None
            self._session, self._opened_session = None, False
        if finalizer is not None:
            finalizer()  # closes the session

    def _new_session(self) -> requests.Session:
        if not self._api_key:
            raise ConfigurationError(
                'SEPSMS["API_KEY"] is not set: the HTTP backend cannot authenticate.'
            )
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update(
            {
                contract.API_KEY_HEADER: self._api_key,
                "Accept": "application/json",
                "User-Agent": f"django-sepsms/{__version__} {requests.utils.default_user_agent()}",
            }
        )
        self._close_on_collect = weakref.finalize(self, session.close)
        return session

    def _current_session(self) -> requests.Session:
        with self._session_lock:
            if self._session is None:
                self._session = self._new_session()
            return self._session

    # -- HTTP ---------------------------------------------------------------

    # Every frame from here down (requests, urllib3, http.client) holds the key
    # header and the body, which may carry a pin or a text with a code.
    @sensitive_variables()
    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        throttle_as: str | None = None,
    ) -> Any:
        session = self._current_session()
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
            spent += self._throttle(throttle_as, may_wait())
            try:
                response = session.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    timeout=(self.connect_timeout, self.timeout),
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
        """Take the slots this request needs; return how long that waited."""
        waited: list[float] = []

        def sleep(seconds: float) -> None:
            waited.append(seconds)
            time.sleep(seconds)

        throttle.acquire("all", contract.LIMIT_ALL, max_wait=max_wait, sleep=sleep)
        if name == "send":
            throttle.acquire("send", contract.LIMIT_SEND, max_wait=max_wait, sleep=sleep)
        elif name == "otp":
            left = max(0.0, max_wait - sum(waited))
            throttle.acquire("otp", contract.LIMIT_OTP_SEND_PER_IP, max_wait=left, sleep=sleep)
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

    # -- operations ---------------------------------------------------------

    @sensitive_variables("sms", "payload")
    def send_message(self, sms: OutgoingSms) -> SendResult:
        if len(sms.recipients) > self.batch_size:
            raise ProviderValidationError(
                f"{len(sms.recipients)} recipients exceed BATCH_SIZE={self.batch_size}.",
                code="local.batch_too_large",
            )
        payload: dict[str, Any] = {
            "origin": sms.origin,
            "message": sms.message,
            "recipients": list(sms.recipients),
            "scheduledTime": sms.scheduled_at.isoformat(timespec="seconds")
            if sms.scheduled_at
            else None,
        }
        if sms.variables:
            payload["variables"] = sms.variables
        result = self._request("POST", contract.PATH_SEND, json=payload, throttle_as="send")
        if not isinstance(result, Mapping) or not result.get("uuid"):
            raise AmbiguousRequestError(
                "The provider accepted the message but returned no uuid.",
                code="response.missing_uuid",
            )
        return SendResult(
            uuid=str(result["uuid"]),
            ref_no=str(result.get("refNo") or ""),
            total_msisdn=_as_int(result.get("totalMsisdn"), len(sms.recipients)),
            total_credit=_as_int(result.get("totalCredit")),
            blocked_count=_as_int(result.get("blockedCount")),
            status=str(result.get("status") or "pending"),
        )

    def send_otp(
        self, phone: str, *, origin: str, template: str, ttl: int, code_length: int
    ) -> OtpSendResult:
        low, high = contract.OTP_TTL_RANGE
        payload: dict[str, Any] = {
            "destination": phone,
            "origin": origin,
            "template": template,
            "ttlSeconds": min(high, max(low, int(ttl))),
            "codeLength": otp_code_length(code_length),
        }
        result = self._request("POST", contract.PATH_OTP_SEND, json=payload, throttle_as="otp")
        if not isinstance(result, Mapping) or not result.get("reference"):
            raise AmbiguousRequestError(
                "The provider accepted the code but sent no reference.",
                code="response.missing_reference",
            )
        ttl_seconds = _as_int(result.get("ttlSeconds"), payload["ttlSeconds"])
        expires_at = _as_datetime(result.get("expiresAt")) or (
            timezone.now() + timedelta(seconds=ttl_seconds)
        )
        return OtpSendResult(
            reference=str(result["reference"]),
            uuid=str(result.get("uuid") or ""),
            destination=str(result.get("destination") or phone),
            expires_at=expires_at,
            ttl_seconds=ttl_seconds,
        )

    @sensitive_variables("pin")
    def verify_otp(self, reference: str, pin: str) -> OtpVerifyResult:
        try:
            result = self._request(
                "POST", contract.PATH_OTP_VERIFY, json={"reference": reference, "pin": pin}
            )
        except ProviderError as exc:
            if exc.code in _OTP_VERIFY_FAILURE_CODES or exc.code.startswith("otp."):
                return OtpVerifyResult(reference, False, exc.code)
            if isinstance(exc, NotFoundError):
                return OtpVerifyResult(reference, False, contract.ERROR_OTP_NOT_FOUND)
            raise
        verified = isinstance(result, Mapping) and result.get("verified") is True
        return OtpVerifyResult(reference, verified)

    def get_message_status(self, uuid: str) -> MessageStatusResult:
        result = _as_mapping(
            self._request("GET", contract.PATH_MESSAGE.format(uuid=uuid)), "a status request"
        )
        summary: dict[str, int] = {}
        for row in result.get("drSummary") or []:
            if isinstance(row, Mapping) and row.get("drStatus"):
                summary[str(row["drStatus"])] = _as_int(row.get("count"))
        return MessageStatusResult(
            uuid=str(result.get("uuid") or uuid),
            status=str(result.get("status") or ""),
            origin=str(result.get("origin") or ""),
            total_msisdn=_as_int(result.get("totalMsisdn")),
            dr_summary=summary,
            refunded_count=_as_int(result.get("refundedCount")),
        )

    def iter_recipient_statuses(self, uuid: str) -> Iterator[RecipientStatusResult]:
        path = contract.PATH_RECIPIENTS.format(uuid=uuid)
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            result = self._request(
                "GET", path, params={contract.RECIPIENTS_CURSOR_PARAM: cursor} if cursor else None
            )
            items = result if isinstance(result, list) else (result or {}).get("items") or []
            for item in items:
                if isinstance(item, Mapping) and item.get("msisdn"):
                    yield RecipientStatusResult(
                        msisdn=str(item["msisdn"]),
                        dr_status=str(item.get("drStatus") or item.get("status") or ""),
                        tx_id=str(item.get("txId") or ""),
                        updated_at=_as_datetime(item.get("updatedAt")),
                    )
            cursor = None if isinstance(result, list) else (result or {}).get("nextCursor")
            if not cursor or cursor in seen:
                return
            seen.add(cursor)

    def get_balance(self) -> int:
        result = _as_mapping(self._request("GET", contract.PATH_BALANCE), "a balance request")
        return _as_int(result.get("balance"))

    def cancel_message(self, uuid: str) -> None:
        raise NotSupportedError(
            "Cancelling a scheduled message is not supported by SEPSMS API v2 as documented: "
            "the provider names no endpoint for it. Cancel it in the provider's dashboard."
        )
