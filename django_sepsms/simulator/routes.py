"""The simulated API's endpoints: routing, keys and scopes, limits, faults, handlers.

:class:`Api` answers every request under ``/api/`` the way the provider
would: it records it, applies armed faults and delays, finds the route,
checks the key and the rate limits, and runs the endpoint on the state.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .. import contract
from .httpd import (
    DropConnection,
    Request,
    Response,
    error_response,
    json_response,
    method_not_allowed,
)
from .records import (
    LIMIT_ALL,
    LIMIT_OTP_PER_IP,
    LIMIT_SEND,
    ApiKey,
    Fault,
    RecordedRequest,
    SimMessage,
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
from .webhooks import WebhookDispatcher
from .wire import (
    ERROR_INVALID_CODE_LENGTH,
    ERROR_INVALID_DESTINATION,
    ERROR_INVALID_TTL,
    ERROR_LEGACY,
    ApiError,
    ceil_seconds,
    iso_millis,
    normalise_msisdn,
    normalised_set,
    utcnow,
)

API_PREFIX = urlsplit(contract.DEFAULT_BASE_URL).path
#: [page] the older system still answers there; the simulator only says it is not v2.
LEGACY_PREFIXES = ("/api/sms", "/api/otp")

Params = dict[str, str]
Handler = Callable[[Request, Body, Params], Body]


def rate_limited(retry_after: float) -> ApiError:
    """The ``429`` for a client that may try again in ``retry_after`` seconds."""
    return ApiError(
        429,
        contract.ERROR_RATE_LIMITED,
        "Too many requests.",
        headers={
            contract.HEADER_RETRY_AFTER: str(ceil_seconds(retry_after)),
            contract.HEADER_RATELIMIT_REMAINING: "0",
        },
    )


def message_result(message: SimMessage) -> Body:
    """What ``GET /message/{uuid}`` answers for ``message``."""
    return {
        "uuid": message.uuid,
        "origin": message.origin,
        "status": message.status,
        "totalMsisdn": message.total_msisdn,
        "drSummary": [{"drStatus": s, "count": c} for s, c in message.dr_counts().items()],
        "refundedCount": message.refunded_count,
    }


@dataclass(frozen=True)
class Route:
    """An endpoint: its path, method, the scope its key needs and its rate limit."""

    pattern: re.Pattern[str]
    method: str
    scope: str
    handler: Handler
    limit: str | None = None


def path_pattern(template: str) -> re.Pattern[str]:
    """The regular expression of a contract path, ``{uuid}`` captured."""
    return re.compile(re.escape(template).replace(re.escape("{uuid}"), "(?P<uuid>[^/]+)") + "$")


class Api:
    """Turns a :class:`Request` into a :class:`Response`, the way the provider would."""

    def __init__(
        self,
        state: SimulatorState,
        dispatcher: WebhookDispatcher,
        *,
        advance: Callable[[], None],
        wake: Callable[[], None],
    ) -> None:
        """``advance`` moves due messages along; ``wake`` nudges the delivery thread."""
        self._state = state
        self._dispatcher = dispatcher
        self._advance = advance
        self._wake = wake
        # Order matters: /message/credit/balance before /message/{uuid}.
        self._routes = [
            Route(path_pattern(contract.PATH_SEND), "POST", "sms:send", self._send, LIMIT_SEND),
            Route(path_pattern(contract.PATH_BALANCE), "GET", "credit:read", self._balance),
            Route(path_pattern(contract.PATH_RECIPIENTS), "GET", "sms:read", self._recipients),
            Route(path_pattern(contract.PATH_MESSAGE), "GET", "sms:read", self._message),
            Route(
                path_pattern(contract.PATH_OTP_SEND),
                "POST",
                "otp:send",
                self._otp_send,
                LIMIT_OTP_PER_IP,
            ),
            Route(path_pattern(contract.PATH_OTP_VERIFY), "POST", "otp:verify", self._otp_verify),
        ]

    def handle(self, request: Request) -> Response:
        """The answer to a request under ``/api/``.

        Raises :class:`ApiError` for a refusal before any endpoint runs (a legacy
        or unknown path, an armed fault), :class:`DropConnection` for a dropped one.
        """
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
        self._advance()  # scheduled messages fall due on any request too
        fault = self._state.take_fault(path)
        if fault is not None and not fault.process:
            raise fault_error(fault)
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
            raise fault_error(fault)
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
            raise rate_limited(wait)
        body = json_body(request.body) if request.method == "POST" else {}
        return route.handler(request, body, params)

    def _match(self, method: str, path: str) -> tuple[Route, Params]:
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
        self._dispatcher.enqueue(events)
        self._wake()
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
            return message_result(message)

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
        with self._state.lock:
            return {"balance": self._state.credits}

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
        self._dispatcher.enqueue(events)
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
            self._dispatcher.enqueue([("otp.verified", payload)])
        return {"reference": reference, "verified": otp is not None}


def fault_error(fault: Fault) -> Exception:
    """What an armed fault raises: its :class:`ApiError`, or :class:`DropConnection`."""
    if fault.drop:
        return DropConnection()
    headers: dict[str, str] = {}
    if fault.retry_after is not None or fault.status == 429:
        headers[contract.HEADER_RETRY_AFTER] = str(max(1, fault.retry_after or 1))
    if fault.status == 429:
        headers[contract.HEADER_RATELIMIT_REMAINING] = "0"
    return ApiError(fault.status, fault.code, "Simulated failure.", headers=headers)
