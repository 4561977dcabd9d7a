"""The :class:`Simulator`: a local stand-in for the SEPSMS REST API v2, as one object.

It owns the state, the HTTP server, the delivery thread and the webhook
dispatcher, sends each request to the inbox page, the ``/_sim/`` control
endpoints or the API, and gives tests its switches, faults and records.

Pure standard library (plus ``requests`` for webhooks): usable without Django.
The ``/_sim/`` control endpoints and the inbox need no API key, so the simulator
must never be reachable from outside the developer's machine or CI job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar, cast, overload

from .. import contract
from .control import handle as handle_control
from .httpd import (
    HTML_CONTENT_TYPE,
    HttpServer,
    Request,
    Response,
    error_response,
    require_method,
)
from .inbox import render_inbox
from .records import (
    Delay,
    Fault,
    InboxEntry,
    Otp,
    RecordedRequest,
    SimMessage,
    Switches,
)
from .routes import API_PREFIX, Api
from .state import SimulatorState
from .webhooks import WebhookAttempt, WebhookDispatcher
from .wire import ERROR_UNAVAILABLE, ApiError

logger = logging.getLogger("django_sepsms.simulator")

DEFAULT_API_KEY = "sk_sep_test"
_TICK_SECONDS = 0.05

T = TypeVar("T")


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
        self._server: HttpServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._delivery_lock = threading.Lock()
        self._api = Api(self._state, self._dispatcher, advance=self._advance, wake=self._wake.set)

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
        self._server = HttpServer((self.host, self.port), self._answer)
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

    # -- answering ----------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        path = request.path
        try:
            if path == "/":
                return self._inbox_page(request)
            if path.startswith("/_sim/"):
                return handle_control(self, request)
            if path.startswith("/api/"):
                return self._api.handle(request)
            raise ApiError(404, contract.ERROR_NOT_FOUND, "Not found.")
        except ApiError as error:
            return error_response(error)

    def _inbox_page(self, request: Request) -> Response:
        require_method(request, "GET")
        query = request.query.get("q", "")
        html = render_inbox(self.inbox, credits=self.credits, query=query)
        return Response(200, html.encode("utf-8"), HTML_CONTENT_TYPE)

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
    def messages(self) -> dict[str, SimMessage]:
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
