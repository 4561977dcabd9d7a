"""A local stand-in for the SEPSMS REST API v2: HTTP server, endpoints and :class:`Simulator`.

Pure standard library (plus ``requests`` for webhooks): usable without Django.
The ``/_sim/`` control endpoints and the inbox need no API key, so the simulator
must never be reachable from outside the developer's machine or CI job.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar, cast, overload
from urllib.parse import urlsplit

from .. import contract
from .control import handle as handle_control
from .httpd import (
    HTML_CONTENT_TYPE,
    DropConnection,
    HttpServer,
    Request,
    Response,
    error_response,
    json_response,
    method_not_allowed,
    require_method,
)
from .inbox import render_inbox
from .records import (
    LIMIT_ALL,
    LIMIT_OTP_PER_IP,
    LIMIT_SEND,
    ApiKey,
    Delay,
    Fault,
    InboxEntry,
    Message,
    Otp,
    RecordedRequest,
    Switches,
)
from .state import SimulatorState
from .validation import (
    MAX_ORIGIN_LENGTH,
    OTP_DEFAULT_CODE_LENGTH,
    Body,
    bad_request,
    decode_cursor,
    encode_cursor,
    int_in_range,
    json_body,
    json_or_none,
    otp_template,
    page_limit,
    recipient_numbers,
    required_str,
    scheduled_time,
    variables_by_number,
)
from .webhooks import WebhookAttempt, WebhookDispatcher
from .wire import (
    ERROR_INVALID_CODE_LENGTH,
    ERROR_INVALID_DESTINATION,
    ERROR_INVALID_TTL,
    ERROR_LEGACY,
    ERROR_UNAVAILABLE,
    ApiError,
    ceil_seconds,
    iso_millis,
    normalise_msisdn,
    normalised_set,
    utcnow,
)

logger = logging.getLogger("django_sepsms.simulator")

API_PREFIX = urlsplit(contract.DEFAULT_BASE_URL).path
#: [page] the older system still answers there; the simulator only says it is not v2.
LEGACY_PREFIXES = ("/api/sms", "/api/otp")
DEFAULT_API_KEY = "sk_sep_test"
_TICK_SECONDS = 0.05

T = TypeVar("T")
Params = dict[str, str]


def _rate_limited(retry_after: float) -> ApiError:
    return ApiError(
        429,
        contract.ERROR_RATE_LIMITED,
        "Too many requests.",
        headers={
            contract.HEADER_RETRY_AFTER: str(ceil_seconds(retry_after)),
            contract.HEADER_RATELIMIT_REMAINING: "0",
        },
    )


# -- presentation ----------------------------------------------------------------


def _message_result(message: Message) -> Body:
    return {
        "uuid": message.uuid,
        "origin": message.origin,
        "status": message.status,
        "totalMsisdn": message.total_msisdn,
        "drSummary": [{"drStatus": s, "count": c} for s, c in message.dr_counts().items()],
        "refundedCount": message.refunded_count,
    }


# -- endpoints --------------------------------------------------------------------

Handler = Callable[[Request, Body, Params], Body]


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    method: str
    scope: str
    handler: Handler
    limit: str | None = None


def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template).replace(re.escape("{uuid}"), "(?P<uuid>[^/]+)") + "$")


class _Api:
    """Turns a :class:`Request` into a :class:`Response`, the way the provider would."""

    def __init__(self, simulator: Simulator) -> None:
        self._sim = simulator
        self._state = simulator._state
        # Order matters: /message/credit/balance before /message/{uuid}.
        self._routes = [
            _Route(_path_pattern(contract.PATH_SEND), "POST", "sms:send", self._send, LIMIT_SEND),
            _Route(_path_pattern(contract.PATH_BALANCE), "GET", "credit:read", self._balance),
            _Route(_path_pattern(contract.PATH_RECIPIENTS), "GET", "sms:read", self._recipients),
            _Route(_path_pattern(contract.PATH_MESSAGE), "GET", "sms:read", self._message),
            _Route(
                _path_pattern(contract.PATH_OTP_SEND),
                "POST",
                "otp:send",
                self._otp_send,
                LIMIT_OTP_PER_IP,
            ),
            _Route(
                _path_pattern(contract.PATH_OTP_VERIFY), "POST", "otp:verify", self._otp_verify
            ),
        ]

    def handle(self, request: Request) -> Response:
        path = request.path
        try:
            if path == "/":
                return self._inbox_page(request)
            if path.startswith("/_sim/"):
                return self._control(request)
            if path.startswith("/api/"):
                return self._api(request)
            raise ApiError(404, contract.ERROR_NOT_FOUND, "Not found.")
        except ApiError as error:
            return error_response(error)

    # -- non-API ------------------------------------------------------------------

    def _inbox_page(self, request: Request) -> Response:
        require_method(request, "GET")
        query = request.query.get("q", "")
        html = render_inbox(self._sim.inbox, credits=self._sim.credits, query=query)
        return Response(200, html.encode("utf-8"), HTML_CONTENT_TYPE)

    def _control(self, request: Request) -> Response:
        return handle_control(self._sim, request)

    # -- API ------------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        self._state.record(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query,
                headers=request.headers,
                json=json_or_none(request.body),
                client_ip=request.client_ip,
                client_port=request.client_port,
                time=utcnow(),
            )
        )
        if any(request.path == p or request.path.startswith(p + "/") for p in LEGACY_PREFIXES):
            raise ApiError(410, ERROR_LEGACY, "API v1 is not simulated: use /api/v2.")
        if request.path != API_PREFIX and not request.path.startswith(API_PREFIX + "/"):
            raise ApiError(404, contract.ERROR_NOT_FOUND, "Not found.")
        path = request.path[len(API_PREFIX) :]
        self._sim._advance()  # scheduled messages fall due on any request too
        fault = self._state.take_fault(path)
        if fault is not None and not fault.process:
            raise _fault_error(fault)
        delay = self._state.take_delay(path)
        if delay is not None and not delay.process:
            time.sleep(delay.seconds)
        try:
            response = json_response(200, {"result": self._dispatch(request, path)})
        except ApiError as error:
            response = error_response(error)
        if delay is not None and delay.process:
            time.sleep(delay.seconds)
        if fault is not None:
            raise _fault_error(fault)
        return response

    def _dispatch(self, request: Request, path: str) -> Body:
        route, params = self._match(request.method, path.rstrip("/") or "/")
        key = self._authenticate(request, route.scope)
        checks = [(LIMIT_ALL, key.key)]
        if route.limit == LIMIT_SEND:
            checks.append((LIMIT_SEND, key.key))
        elif route.limit == LIMIT_OTP_PER_IP:
            checks.append((LIMIT_OTP_PER_IP, request.client_ip))
        wait = self._state.rate_limit_wait(checks, time.monotonic())
        if wait is not None:
            raise _rate_limited(wait)
        body = json_body(request.body) if request.method == "POST" else {}
        return route.handler(request, body, params)

    def _match(self, method: str, path: str) -> tuple[_Route, Params]:
        allowed: list[str] = []
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            if not found.groupdict():
                # A fixed path (/message/send) is never read as a {uuid} of another route.
                raise method_not_allowed([route.method])
            allowed.append(route.method)
        if allowed:
            raise method_not_allowed(allowed)
        raise ApiError(404, contract.ERROR_NOT_FOUND, "Not found.")

    def _authenticate(self, request: Request, scope: str) -> ApiKey:
        key = self._state.find_key(request.headers.get(contract.API_KEY_HEADER, ""))
        if key is None:
            raise ApiError(
                401, contract.ERROR_INVALID_CREDENTIALS, "API key is missing or invalid"
            )
        if key.allowed_ips is not None and request.client_ip not in key.allowed_ips:
            raise ApiError(403, contract.ERROR_IP_NOT_ALLOWED, "This IP may not use this key.")
        if scope not in key.scopes:
            raise ApiError(403, contract.ERROR_FORBIDDEN_SCOPE, f"This key lacks {scope}.")
        return key

    # -- endpoint handlers --------------------------------------------------------------

    def _send(self, request: Request, body: Body, params: Params) -> Body:
        origin = required_str(body, "origin", MAX_ORIGIN_LENGTH)
        text = required_str(body, "message")
        switches = self._state.switches
        numbers = recipient_numbers(body.get("recipients"), switches.max_recipients_per_request)
        scheduled_at = scheduled_time(body.get("scheduledTime"))
        variables = variables_by_number(body.get("variables"))
        blocked = normalised_set(switches.blocked_numbers)
        rendered = {
            n: contract.render_variables(text, variables.get(n))
            for n in numbers
            if n not in blocked
        }
        message, events = self._state.create_message(
            origin=origin,
            text=text,
            recipients=rendered,
            blocked_count=len(numbers) - len(rendered),
            scheduled_at=scheduled_at,
            now=time.time(),
        )
        self._sim._dispatcher.enqueue(events)
        self._sim._wake.set()
        return {
            "uuid": message.uuid,
            "refNo": message.ref_no,
            "totalMsisdn": message.total_msisdn,
            "totalCredit": message.total_credit,
            "blockedCount": message.blocked_count,
            "status": message.status,
        }

    def _message(self, request: Request, body: Body, params: Params) -> Body:
        message = self._state.get_message(params["uuid"])
        with self._state.lock:
            return _message_result(message)

    def _recipients(self, request: Request, body: Body, params: Params) -> Body:
        uuid = params["uuid"]
        message = self._state.get_message(uuid)
        offset = decode_cursor(uuid, request.query.get("cursor"))
        limit = page_limit(request.query.get("limit"))
        with self._state.lock:
            page = message.recipients[offset : offset + limit]
            more = offset + limit < len(message.recipients)
            items = [
                {
                    "msisdn": r.msisdn,
                    "txId": r.tx_id,
                    "drStatus": r.dr_status,
                    "updatedAt": iso_millis(r.updated_at),
                }
                for r in page
            ]
        return {
            "items": items,
            "nextCursor": encode_cursor(uuid, offset + limit) if more else None,
        }

    def _balance(self, request: Request, body: Body, params: Params) -> Body:
        return {"balance": self._sim.credits}

    def _otp_send(self, request: Request, body: Body, params: Params) -> Body:
        destination = normalise_msisdn(body.get("destination"))
        if destination is None:
            raise bad_request(ERROR_INVALID_DESTINATION, "destination must be a Thai mobile.")
        origin = required_str(body, "origin", MAX_ORIGIN_LENGTH)
        template = otp_template(body.get("template"))
        ttl = int_in_range(
            body,
            "ttlSeconds",
            contract.OTP_TTL_RANGE,
            contract.OTP_TTL_DEFAULT,
            ERROR_INVALID_TTL,
        )
        code_length = int_in_range(
            body,
            "codeLength",
            contract.OTP_CODE_LENGTH_RANGE,
            OTP_DEFAULT_CODE_LENGTH,
            ERROR_INVALID_CODE_LENGTH,
        )
        otp, events = self._state.create_otp(
            destination=destination,
            origin=origin,
            template=template,
            ttl_seconds=ttl,
            code_length=code_length,
            now=time.time(),
        )
        self._sim._dispatcher.enqueue(events)
        return {
            "uuid": otp.uuid,
            "reference": otp.reference,
            "destination": otp.destination,
            "expiresAt": iso_millis(otp.expires_at),
            "ttlSeconds": otp.ttl_seconds,
        }

    def _otp_verify(self, request: Request, body: Body, params: Params) -> Body:
        reference = contract.normalise_reference(required_str(body, "reference"))
        pin = required_str(body, "pin").strip()
        otp = self._state.verify_otp(reference, pin, time.time())
        if otp is not None:
            payload = {"reference": otp.reference, "destination": otp.destination}
            self._sim._dispatcher.enqueue([("otp.verified", payload)])
        return {"reference": reference, "verified": otp is not None}


def _fault_error(fault: Fault) -> Exception:
    if fault.drop:
        return DropConnection()
    headers: dict[str, str] = {}
    if fault.retry_after is not None or fault.status == 429:
        headers[contract.HEADER_RETRY_AFTER] = str(max(1, fault.retry_after or 1))
    if fault.status == 429:
        headers[contract.HEADER_RATELIMIT_REMAINING] = "0"
    return ApiError(fault.status, fault.code, "Simulated failure.", headers=headers)


# -- the facade ----------------------------------------------------------------------


class _Switch(Generic[T]):
    """A :class:`Simulator` attribute stored in its (lock-guarded) :class:`Switches`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _Switch[T]: ...
    @overload
    def __get__(self, obj: Simulator, objtype: type | None = None) -> T: ...
    def __get__(self, obj: Simulator | None, objtype: type | None = None) -> T | _Switch[T]:
        if obj is None:
            return self
        return cast(T, getattr(obj._state.switches, self._name))

    def __set__(self, obj: Simulator, value: T) -> None:
        with obj._state.lock:
            setattr(obj._state.switches, self._name, value)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - only turned into a URL
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class Simulator:
    """A local SEPSMS API v2: real HTTP, in-memory state, signed webhooks.

    Use as a context manager or with :meth:`start` / :meth:`stop`. Configure the
    project with ``SEPSMS = {"BASE_URL": sim.base_url, "API_KEY": sim.api_key}``.
    The switches below may be changed at any time; :meth:`reset` restores them.
    """

    #: Seconds between hand-off to the networks and the delivery reports.
    delivery_delay = _Switch[float]()
    #: Where webhooks are POSTed (``None``: no webhooks).
    webhook_url = _Switch[str | None]()
    #: Secrets signing webhooks, one ``v1=`` each.
    webhook_secrets = _Switch[list[str]]()
    #: Extra attempts after a failed webhook POST, and the first back-off (doubling).
    webhook_retries = _Switch[int]()
    webhook_retry_delay = _Switch[float]()
    #: Deliver every webhook twice.
    webhook_duplicates = _Switch[bool]()
    #: Deliver the webhooks of one message in reverse order (``dr.*`` before ``sms.sent``).
    webhook_reverse = _Switch[bool]()
    #: Numbers whose deliveries fail (``drStatus`` ``failed``).
    failing_numbers = _Switch[set[str]]()
    #: Numbers refused at send time: counted in ``blockedCount``, not charged or delivered.
    blocked_numbers = _Switch[set[str]]()
    #: ``{"send": (120, 60), "otp_per_ip": (5, 60), "all": (2400, 60)}``.
    rate_limits = _Switch[dict[str, tuple[int, int]]]()
    rate_limits_enabled = _Switch[bool]()
    #: ``credit.low`` fires once when the balance drops below this.
    credit_low_threshold = _Switch[int]()
    max_recipients_per_request = _Switch[int]()

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Mapping[str, Iterable[str]] | None = None,
        credits: int = 100_000,
        webhook_url: str | None = None,
        webhook_secrets: Iterable[str] | str | None = None,
        delivery_delay: float = 0.0,
        *,
        failing_numbers: Iterable[str] = (),
        blocked_numbers: Iterable[str] = (),
        webhook_duplicates: bool = False,
        webhook_reverse: bool = False,
    ) -> None:
        keys = dict(api_keys) if api_keys is not None else {DEFAULT_API_KEY: contract.SCOPES}
        if not keys:
            raise ValueError("The simulator needs at least one API key.")
        if isinstance(webhook_secrets, str):
            webhook_secrets = [webhook_secrets]
        switches = Switches(
            delivery_delay=delivery_delay,
            webhook_url=webhook_url,
            webhook_secrets=list(webhook_secrets or []),
            failing_numbers=set(failing_numbers),
            blocked_numbers=set(blocked_numbers),
            webhook_duplicates=webhook_duplicates,
            webhook_reverse=webhook_reverse,
        )
        self.host, self.port = host, port
        self._first_key = next(iter(keys))
        self._state = SimulatorState(api_keys=keys, credits=credits, switches=switches)
        self._dispatcher = WebhookDispatcher(switches)
        self._api = _Api(self)
        self._server: HttpServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._delivery_lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.base_url if self._server else "not started"
        return f"<Simulator {where}>"

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Bind the port and start serving, delivering and sending webhooks."""
        if self._server is not None:
            raise RuntimeError("The simulator is already running.")
        self._server = HttpServer((self.host, self.port), self._api.handle)
        self._stopping.clear()
        self._dispatcher.start()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": _TICK_SECONDS},
                name="sepsms-simulator-http",
                daemon=True,
            ),
            threading.Thread(
                target=self._run_delivery, name="sepsms-simulator-delivery", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        logger.info("SEPSMS simulator listening on %s", self.base_url)

    def stop(self) -> None:
        """Stop serving and drop undelivered webhooks. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self._wake.set()
        server.shutdown()
        server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self._dispatcher.stop()

    def reset(self) -> None:
        """Forget messages, OTPs, the inbox, requests, faults, limits and webhooks;
        restore keys, credits and switches as given to the constructor."""
        with self._delivery_lock:  # no delivery of the old messages is queued after this
            self._state.reset()
            self._dispatcher.clear()

    # -- addresses --------------------------------------------------------------------

    @property
    def _origin(self) -> str:
        if self._server is None:
            raise RuntimeError("Start the simulator first: the port is chosen then.")
        host, port = self._server.server_address[:2]
        return f"http://{_url_host(str(host))}:{port}"

    @property
    def base_url(self) -> str:
        """The ``BASE_URL`` to configure, e.g. ``http://127.0.0.1:8025/api/v2``."""
        return self._origin + API_PREFIX

    @property
    def inbox_url(self) -> str:
        """The HTML inbox."""
        return self._origin + "/"

    @property
    def api_key(self) -> str:
        """The first configured API key."""
        return self._first_key

    def add_api_key(
        self,
        key: str,
        scopes: Iterable[str] = contract.SCOPES,
        *,
        allowed_ips: Iterable[str] | None = None,
    ) -> None:
        """Accept another key (until :meth:`reset`), optionally only from ``allowed_ips``."""
        self._state.add_key(key, scopes, allowed_ips)

    # -- state ------------------------------------------------------------------------

    @property
    def credits(self) -> int:
        """The balance; setting it at or above the threshold re-arms ``credit.low``."""
        with self._state.lock:
            return self._state.credits

    @credits.setter
    def credits(self, value: int) -> None:
        self._state.set_credits(value)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received under ``/api/``, oldest first (a copy)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def inbox(self) -> list[InboxEntry]:
        """Every SMS that reached (or failed to reach) a phone, oldest first (a copy)."""
        with self._state.lock:
            return list(self._state.inbox)

    @property
    def messages(self) -> dict[str, Message]:
        """Accepted messages by uuid (a copy of the mapping; the records are live)."""
        with self._state.lock:
            return dict(self._state.messages)

    @property
    def otps(self) -> dict[str, Otp]:
        """OTPs by reference (a copy of the mapping; the records are live, so a test
        may move ``expires_at`` into the past)."""
        with self._state.lock:
            return dict(self._state.otps)

    @property
    def webhook_log(self) -> list[WebhookAttempt]:
        """Every webhook POST attempt: ``(event, body, HTTP status or error text)``."""
        return self._dispatcher.log

    def last_otp_code(self, msisdn: str) -> str | None:
        """The code of the newest OTP sent to ``msisdn`` (either number format)."""
        return self._state.last_otp_code(msisdn)

    # -- faults -------------------------------------------------------------------------

    def fail_next(
        self,
        path_prefix: str = "",
        *,
        status: int = 503,
        code: str = ERROR_UNAVAILABLE,
        times: int = 1,
        retry_after: int | None = None,
        process: bool = False,
        drop: bool = False,
    ) -> None:
        """Answer the next ``times`` requests whose path (after ``/api/v2``) starts
        with ``path_prefix`` with this error. 429 adds ``Retry-After`` and
        ``RateLimit-Remaining: 0``.

        With ``process=True`` the request takes effect first, and only its
        answer is lost: a gateway failing after the provider did the work.
        With ``drop=True`` the connection is closed without any answer.
        """
        with self._state.lock:
            self._state.faults.append(
                Fault(path_prefix, status, code, times, retry_after, process, drop)
            )

    def delay_next(
        self, path_prefix: str = "", *, seconds: float, times: int = 1, process: bool = True
    ) -> None:
        """Sleep ``seconds`` before answering the next ``times`` matching requests.

        With ``process=True`` the request takes effect before the sleep, so a
        client timing out has really sent the message (the ambiguous case).
        """
        with self._state.lock:
            self._state.delays.append(Delay(path_prefix, seconds, times, process))

    # -- delivery and webhooks ----------------------------------------------------------

    def deliver_now(self, uuid: str | None = None, *, timeout: float = 5.0) -> None:
        """Deliver pending messages (or just ``uuid``, even if scheduled) without
        waiting for ``delivery_delay``; return once their webhooks were POSTed.

        Raises :class:`KeyError` for an unknown ``uuid``.
        """
        self._advance(only=uuid, force=True)
        self.wait_for_webhooks(timeout)

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Block until no webhook is queued or in flight; False if ``timeout`` ran out."""
        return self._dispatcher.wait_until_idle(timeout)

    def _advance(self, *, only: str | None = None, force: bool = False) -> None:
        # One lock around advance + enqueue: deliver_now() then sees the events queued.
        with self._delivery_lock:
            events = self._state.advance(time.time(), only=only, force=force)
            self._dispatcher.enqueue(events)

    def _run_delivery(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(_TICK_SECONDS)
            self._wake.clear()
            try:
                self._advance()
            except Exception:
                logger.exception("Simulator delivery step failed")
