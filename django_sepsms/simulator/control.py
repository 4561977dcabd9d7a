"""The simulator's control endpoints under ``/_sim/``: the test switches over HTTP.

What a test does with the :class:`~django_sepsms.simulator.Simulator` object,
a developer running ``manage.py sepsms_simulator`` in a terminal does here,
with ``curl`` or from a browser-driven test:

- ``GET /_sim/health``; ``GET /_sim/inbox.json`` (``?q=`` as on the inbox
  page); ``POST /_sim/reset``;
- ``GET`` or ``POST /_sim/switches``: read, or change any of :data:`SWITCHES`;
- ``POST /_sim/fail``: ``fail_next()`` (``path``, ``status``, ``code``,
  ``times``, ``retry_after``, ``process``, ``drop``);
- ``POST /_sim/delay``: ``delay_next()`` (``path``, ``seconds``, ``times``,
  ``process``);
- ``POST /_sim/keys``: ``add_api_key()`` (``key``, ``scopes``, ``allowed_ips``);
- ``POST /_sim/deliver``: ``deliver_now()`` (``uuid``, optional);
- ``GET /_sim/inbox.css`` and ``/_sim/inbox.js``: the inbox page's assets.

Every other answer is JSON; a body that does not fit is a ``400`` in the
provider's error envelope, and changes nothing. A body must be sent as
``Content-Type: application/json`` (``415`` otherwise), so that a web page
cannot change the simulator with a plain form.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from .. import contract
from .httpd import Request, Response, json_response, require_method
from .inbox import ASSETS, inbox_item, matching
from .records import InboxEntry
from .wire import ERROR_UNAVAILABLE, ApiError

_INVALID = "validation.invalid"


class Controlled(Protocol):
    """What the control endpoints use of the :class:`~django_sepsms.simulator.Simulator`
    (besides its switches, read and set by name)."""

    @property
    def inbox(self) -> list[InboxEntry]: ...

    def reset(self) -> None: ...

    def add_api_key(
        self,
        key: str,
        scopes: Iterable[str] = contract.SCOPES,
        *,
        allowed_ips: Iterable[str] | None = None,
    ) -> None: ...

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
    ) -> None: ...

    def delay_next(
        self, path_prefix: str = "", *, seconds: float, times: int = 1, process: bool = True
    ) -> None: ...

    def deliver_now(self, uuid: str | None = None, *, timeout: float = 5.0) -> None: ...


def _number(value: Any, name: str, *, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ApiError(400, _INVALID, f"{name} must be a number >= {minimum:g}.")
    return float(value)


def _whole(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ApiError(400, _INVALID, f"{name} must be a whole number >= {minimum}.")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ApiError(400, _INVALID, f"{name} must be true or false.")
    return value


def _strings(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ApiError(400, _INVALID, f"{name} must be a list of strings.")
    return list(value)


def _url(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ApiError(400, _INVALID, f"{name} must be an http(s) URL or null.")
    return value


#: Switch name → how a JSON value becomes the switch's value.
SWITCHES: dict[str, Callable[[Any, str], Any]] = {
    "credits": lambda v, n: _whole(v, n),
    "delivery_delay": lambda v, n: _number(v, n),
    "webhook_url": _url,
    "webhook_secrets": _strings,
    "webhook_retries": lambda v, n: _whole(v, n),
    "webhook_retry_delay": lambda v, n: _number(v, n),
    "webhook_duplicates": _flag,
    "webhook_reverse": _flag,
    "failing_numbers": lambda v, n: set(_strings(v, n)),
    "blocked_numbers": lambda v, n: set(_strings(v, n)),
    "rate_limits_enabled": _flag,
    "credit_low_threshold": lambda v, n: _whole(v, n),
    "max_recipients_per_request": lambda v, n: _whole(v, n, minimum=1),
}


def switches_of(sim: Controlled) -> dict[str, Any]:
    """The current switches, as JSON values."""
    values = {name: getattr(sim, name) for name in SWITCHES}
    for name, value in values.items():
        if isinstance(value, set):
            values[name] = sorted(value)
    return values


def handle(sim: Controlled, request: Request) -> Response:
    """Answer one request under ``/_sim/``."""
    name = request.path.removeprefix("/_sim/")
    if name == "health":
        require_method(request, "GET")
        return json_response(200, {"ok": True})
    if name == "inbox.json":
        require_method(request, "GET")
        found = matching(sim.inbox, request.query.get("q", ""))
        return json_response(200, {"items": [inbox_item(e) for e in found]})
    if name in ASSETS:
        require_method(request, "GET")
        body, content_type = ASSETS[name]
        return Response(200, body, content_type, {"Cache-Control": "no-cache"})
    if name == "switches" and request.method == "GET":
        return json_response(200, switches_of(sim))
    actions: dict[str, Callable[[Controlled, Mapping[str, Any]], Any]] = {
        "reset": lambda s, _: s.reset(),
        "switches": _set_switches,
        "fail": _fail,
        "delay": _delay,
        "keys": _add_key,
        "deliver": _deliver,
    }
    if name not in actions:
        raise ApiError(404, contract.ERROR_NOT_FOUND, "Not found.")
    require_method(request, "POST")
    actions[name](sim, _body(request))
    if name == "reset":
        return json_response(200, {"ok": True})
    return json_response(200, {"ok": True, "switches": switches_of(sim)})


def _body(request: Request) -> Mapping[str, Any]:
    if not request.body:
        return {}
    # What a web page can post across sites without asking first (a form, text)
    # never changes the simulator.
    media_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, _INVALID, "Send a JSON object with Content-Type: application/json.")
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ApiError(400, _INVALID, "The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise ApiError(400, _INVALID, "The body must be a JSON object.")
    return body


def _only(body: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise ApiError(400, _INVALID, f"Unknown field(s): {', '.join(unknown)}.")


def _set_switches(sim: Controlled, body: Mapping[str, Any]) -> None:
    _only(body, set(SWITCHES))
    values = {name: SWITCHES[name](value, name) for name, value in body.items()}
    for name, value in values.items():  # all checked first: a bad body changes nothing
        setattr(sim, name, value)


def _fail(sim: Controlled, body: Mapping[str, Any]) -> None:
    _only(body, {"path", "status", "code", "times", "retry_after", "process", "drop"})
    retry_after = body.get("retry_after")
    sim.fail_next(
        _path(body),
        status=_whole(body.get("status", 503), "status", minimum=400),
        code=str(body.get("code") or ERROR_UNAVAILABLE),
        times=_whole(body.get("times", 1), "times", minimum=1),
        retry_after=None if retry_after is None else _whole(retry_after, "retry_after"),
        process=_flag(body.get("process", False), "process"),
        drop=_flag(body.get("drop", False), "drop"),
    )


def _delay(sim: Controlled, body: Mapping[str, Any]) -> None:
    _only(body, {"path", "seconds", "times", "process"})
    sim.delay_next(
        _path(body),
        seconds=_number(body.get("seconds"), "seconds"),
        times=_whole(body.get("times", 1), "times", minimum=1),
        process=_flag(body.get("process", True), "process"),
    )


def _add_key(sim: Controlled, body: Mapping[str, Any]) -> None:
    _only(body, {"key", "scopes", "allowed_ips"})
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise ApiError(400, _INVALID, "key must be a non-empty string.")
    scopes = _strings(body.get("scopes", list(contract.SCOPES)), "scopes")
    unknown = sorted(set(scopes) - set(contract.SCOPES))
    if unknown:
        raise ApiError(400, _INVALID, f"Unknown scope(s): {', '.join(unknown)}.")
    ips = body.get("allowed_ips")
    sim.add_api_key(key, scopes, allowed_ips=None if ips is None else _strings(ips, "allowed_ips"))


def _deliver(sim: Controlled, body: Mapping[str, Any]) -> None:
    _only(body, {"uuid"})
    uuid = body.get("uuid")
    if uuid is not None and not isinstance(uuid, str):
        raise ApiError(400, _INVALID, "uuid must be a string.")
    try:
        sim.deliver_now(uuid)
    except KeyError:
        raise ApiError(404, contract.ERROR_NOT_FOUND, f"No message {uuid!r}.") from None


def _path(body: Mapping[str, Any]) -> str:
    path = body.get("path", "")
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise ApiError(400, _INVALID, "path must start with / (after /api/v2), or be empty.")
    return path
