"""What the rooms of the app report: one small call where each thing happens.

Attributes are chosen from short, fixed vocabularies (endpoints as their
templates, statuses, outcomes, error codes checked against a strict form), so
no phone number, code, reference, key or provider text ever becomes one.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from .. import contract, signals
from ..exceptions import (
    AmbiguousRequestError,
    ConfigurationError,
    NetworkError,
    ProviderError,
    RateLimitedError,
    error_code_of,
)
from .core import add, enabled, record, span

F = TypeVar("F", bound=Callable[..., Any])

#: An error code as the provider and this app write them (``credit.insufficient``).
_CODE = re.compile(r"[A-Za-z][A-Za-z_.\-]{0,63}")
_STATIC_PATHS = frozenset(
    {
        contract.PATH_SEND,
        contract.PATH_BALANCE,
        contract.PATH_OTP_SEND,
        contract.PATH_OTP_VERIFY,
    }
)
_MESSAGE_PREFIX = contract.PATH_MESSAGE.split("{", 1)[0]
_RECIPIENTS_SUFFIX = contract.PATH_RECIPIENTS.rsplit("}", 1)[-1]


def safe_code(code: str) -> str:
    """``code`` if it has the form of an error code (letters, dots, no digit); else ``other``."""
    return code if _CODE.fullmatch(code) else "other"


def endpoint_of(path: str) -> str:
    """The endpoint's template (``/message/{uuid}``): a uuid never becomes an attribute."""
    if path in _STATIC_PATHS:
        return path
    if path.startswith(_MESSAGE_PREFIX):
        if path.endswith(_RECIPIENTS_SUFFIX):
            return contract.PATH_RECIPIENTS
        return contract.PATH_MESSAGE
    return "other"


def outcome_of(exc: BaseException) -> str:
    """What a failed call to the provider came to, in one word."""
    if isinstance(exc, RateLimitedError) and exc.code == "local.throttled":
        return "throttled"
    if isinstance(exc, AmbiguousRequestError):
        return "ambiguous"
    if isinstance(exc, NetworkError):
        return "network"
    if isinstance(exc, ConfigurationError):
        return "configuration"
    if isinstance(exc, ProviderError):
        return "refused"
    return "error"


# -- provider calls ----------------------------------------------------------


class _Call:
    __slots__ = ("attempts", "status")

    def __init__(self) -> None:
        self.attempts = 0
        self.status = 0


_CALL: ContextVar[_Call | None] = ContextVar("sepsms_provider_call", default=None)


def provider_call(func: F) -> F:
    """Decorate ``HttpTransport._request``: a span and the request metrics around each call."""

    @functools.wraps(func)
    def traced(self: Any, method: str, path: str, **kwargs: Any) -> Any:
        if not enabled():
            return func(self, method, path, **kwargs)
        call = _Call()
        token = _CALL.set(call)
        attributes = {"http.request.method": method, "sepsms.endpoint": endpoint_of(path)}
        outcome = "ok"
        started = time.perf_counter()
        try:
            with span("sepsms.provider.request", attributes, client=True) as current:
                try:
                    return func(self, method, path, **kwargs)
                except BaseException as exc:
                    outcome = outcome_of(exc)
                    current.set_attribute("sepsms.error.code", safe_code(error_code_of(exc)))
                    raise
                finally:
                    current.set_attribute("sepsms.outcome", outcome)
                    current.set_attribute("sepsms.retries", max(0, call.attempts - 1))
                    if call.status:
                        current.set_attribute("http.response.status_code", call.status)
        finally:
            _CALL.reset(token)
            measured = {**attributes, "sepsms.outcome": outcome}
            add("sepsms.provider.requests", 1, measured)
            record("sepsms.provider.duration", time.perf_counter() - started, measured)

    return traced  # type: ignore[return-value]


def note_attempt(attempt: int, status: int | None = None) -> None:
    """Inside a traced call: the attempt being made, and the HTTP status it got."""
    call = _CALL.get()
    if call is not None:
        call.attempts = attempt
        if status is not None:
            call.status = status


def provider_error(status: int, code: str) -> None:
    """The provider answered with an error (retried ones included)."""
    add(
        "sepsms.provider.errors",
        1,
        {
            "sepsms.error.code": safe_code(code) if code else "none",
            "http.response.status_code": status,
        },
    )


def throttle_waited(limit: str, seconds: float) -> None:
    """A request waited ``seconds`` for a slot of the provider's limit ``limit``."""
    record("sepsms.provider.throttle.waits", seconds, {"sepsms.limit": limit})


# -- statuses ------------------------------------------------------------------


def messages_reached(status: str, count: int = 1) -> None:
    """``count`` messages moved to ``status``."""
    add("sepsms.messages", count, {"sepsms.status": status})


def recipients_reached(status: str, count: int = 1) -> None:
    """``count`` recipients moved to ``status``."""
    add("sepsms.recipients", count, {"sepsms.status": status})


# -- webhooks ------------------------------------------------------------------

_WEBHOOK: ContextVar[list[str] | None] = ContextVar("sepsms_webhook", default=None)
_REFUSALS = {400: "refused", 413: "too_large", 500: "error"}


def webhook_view(view: F) -> F:
    """Decorate the webhook view: a span and the ``sepsms.webhooks`` count of each delivery."""

    @functools.wraps(view)
    def traced(request: Any, *args: Any, **kwargs: Any) -> Any:
        if not enabled():
            return view(request, *args, **kwargs)
        noted = ["unverified", ""]
        token = _WEBHOOK.set(noted)
        try:
            with span("sepsms.webhook", {}) as current:
                response = view(request, *args, **kwargs)
                outcome = noted[1] or _REFUSALS.get(response.status_code, "ok")
                current.set_attribute("sepsms.webhook.event", noted[0])
                current.set_attribute("sepsms.outcome", outcome)
                current.set_attribute("http.response.status_code", response.status_code)
        finally:
            _WEBHOOK.reset(token)
        add("sepsms.webhooks", 1, {"sepsms.webhook.event": noted[0], "sepsms.outcome": outcome})
        return response

    return traced  # type: ignore[return-value]


def note_webhook(event: str, outcome: str) -> None:
    """Inside the webhook view: the verified event's name and what storing it did."""
    noted = _WEBHOOK.get()
    if noted is not None:
        noted[:] = [event if event in contract.WEBHOOK_EVENTS else "other", outcome]


# -- one-time codes --------------------------------------------------------------


def otp_requested(purpose: str, mode: str, outcome: str) -> None:
    """A code was asked for: ``outcome`` is ``sent``, ``send_failed``, ``unconfirmed``
    or ``decoy`` (a number that may not get one: no SMS, and no ``mode``)."""
    attributes = {"sepsms.otp.purpose": safe_code(str(purpose)), "sepsms.outcome": outcome}
    if mode:
        attributes["sepsms.otp.mode"] = mode
    add("sepsms.otp.requested", 1, attributes)


def otp_checked(verified: bool, reason: str, purpose: str | None) -> None:
    """A code was checked: verified, or failed for ``reason``."""
    if verified:
        add("sepsms.otp.verified", 1, {"sepsms.otp.purpose": safe_code(purpose or "any")})
    else:
        add("sepsms.otp.failed", 1, {"sepsms.otp.reason": reason})


def otp_locked(lock: str, step: str) -> None:
    """A lockout at ``step`` (``send`` or ``verify``): ``lock`` is ``attempts`` (a code
    out of tries) or the name of the end-user limit that refused the request."""
    add("sepsms.otp.locked", 1, {"sepsms.otp.lock": safe_code(lock), "sepsms.otp.step": step})


# -- SMS pumping -----------------------------------------------------------------

_SCOPE_KIND = re.compile(r"[a-z][a-z_]{0,31}")


def record_pumping_episode(scope: str) -> None:
    """Count one episode of the SMS-pumping guard tightening sending for ``scope``.

    Only the scope's kind is kept: a range of numbers (``"6681"``, or
    ``"prefix:6681"``) counts as ``prefix``, a word (``"site"``) as itself. The
    digits of a number never become an attribute.
    """
    text = str(scope).strip().lower()
    kind = text.split(":", 1)[0]
    if text.isdigit():
        kind = "prefix"
    add(
        "sepsms.pumping.episodes",
        1,
        {"sepsms.pumping.scope": kind if _SCOPE_KIND.fullmatch(kind) else "other"},
    )


def on_pumping_suspected(sender: Any, scope: str = "", **kwargs: Any) -> None:
    """A receiver for the ``pumping_suspected`` signal: :func:`record_pumping_episode`."""
    record_pumping_episode(scope)


# Where the pumping guard is installed, its signal counts each episode.
_pumping_suspected = getattr(signals, "pumping_suspected", None)
if _pumping_suspected is not None:
    _pumping_suspected.connect(
        on_pumping_suspected, dispatch_uid="django_sepsms.telemetry.pumping_episodes"
    )
