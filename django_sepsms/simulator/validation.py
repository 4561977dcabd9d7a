"""Checks on what a client sends to the simulated API, answering as the provider would.

Each function takes one field (or the body) and returns it in the form the
endpoints use, or raises the ``400`` :class:`~.wire.ApiError` the provider
would answer with: fields, numbers, times, variables, templates, page cursors.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from .. import contract
from .wire import (
    ERROR_INVALID_CURSOR,
    ERROR_INVALID_JSON,
    ERROR_INVALID_RECIPIENTS,
    ERROR_INVALID_SCHEDULED_TIME,
    ERROR_INVALID_TEMPLATE,
    ERROR_INVALID_VARIABLES,
    ERROR_TOO_MANY_RECIPIENTS,
    ApiError,
    normalise_msisdn,
)

Body = dict[str, Any]

MAX_ORIGIN_LENGTH = 32
#: [assumed] defaults the page does not state.
OTP_DEFAULT_TEMPLATE = "Your code is {code} (Ref: {ref})"
OTP_DEFAULT_CODE_LENGTH = 6
RECIPIENTS_PAGE_DEFAULT, RECIPIENTS_PAGE_MAX = 100, 500


def bad_request(code: str, message: str, **details: Any) -> ApiError:
    """A ``400`` with ``code``; ``details`` go into the error's ``details``."""
    return ApiError(400, code, message, details=details or None)


def required_str(body: Body, name: str, max_length: int | None = None) -> str:
    """``body[name]``: a string that is not blank, of at most ``max_length``."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(contract.ERROR_VALIDATION, f"{name} must be a non-empty string.")
    if max_length is not None and len(value) > max_length:
        raise bad_request(
            contract.ERROR_VALIDATION, f"{name} must be at most {max_length} characters."
        )
    return value


def recipient_numbers(value: Any, cap: int) -> list[str]:
    """At most ``cap`` valid numbers, as ``66…``, each once (the first time given)."""
    if not isinstance(value, list) or not value:
        raise bad_request(ERROR_INVALID_RECIPIENTS, "recipients must be a non-empty list.")
    if len(value) > cap:
        raise bad_request(ERROR_TOO_MANY_RECIPIENTS, f"At most {cap} recipients per request.")
    numbers = [normalise_msisdn(item) for item in value]
    invalid = [item for item, number in zip(value, numbers, strict=True) if number is None]
    if invalid:
        shown = ", ".join(str(item) for item in invalid[:20])
        raise bad_request(
            ERROR_INVALID_RECIPIENTS, f"Invalid recipients: {shown}", invalid=invalid
        )
    return list(dict.fromkeys(n for n in numbers if n is not None))


def scheduled_time(value: Any) -> datetime | None:
    """``scheduledTime``: ISO 8601 with a time zone, or ``None`` when absent."""
    if value is None or value == "":
        return None
    invalid = bad_request(
        ERROR_INVALID_SCHEDULED_TIME, "scheduledTime must be ISO 8601 with a time zone."
    )
    if not isinstance(value, str):
        raise invalid
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid from None
    if parsed.utcoffset() is None:
        raise invalid
    return parsed


def variables_by_number(value: Any) -> dict[str, dict[str, object]]:
    """``variables``: one object of values per number, keyed by its ``66…`` form."""
    if value is None:
        return {}
    invalid = bad_request(
        ERROR_INVALID_VARIABLES, "variables must map recipients to objects of values."
    )
    if not isinstance(value, dict):
        raise invalid
    out: dict[str, dict[str, object]] = {}
    for number, values in value.items():
        msisdn = normalise_msisdn(number)
        if msisdn is None or not isinstance(values, dict):
            raise invalid
        out[msisdn] = values
    return out


def int_in_range(body: Body, name: str, bounds: tuple[int, int], default: int, code: str) -> int:
    """``body[name]``: an integer within ``bounds`` (a whole float counts), else ``default``."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(code, f"{name} must be an integer from {low} to {high}.")
    return value


def otp_template(value: Any) -> str:
    """``template``: a text with ``{code}`` in it, or the default."""
    if value is None:
        return OTP_DEFAULT_TEMPLATE
    if not isinstance(value, str) or contract.OTP_CODE_PLACEHOLDER not in value:
        raise bad_request(
            ERROR_INVALID_TEMPLATE, f"template must contain {contract.OTP_CODE_PLACEHOLDER}."
        )
    return value


def encode_cursor(uuid: str, offset: int) -> str:
    """The opaque ``nextCursor`` for ``offset`` in message ``uuid``'s recipients."""
    return base64.urlsafe_b64encode(f"{uuid}:{offset}".encode()).decode().rstrip("=")


def decode_cursor(uuid: str, cursor: str | None) -> int:
    """The offset a cursor of message ``uuid`` stands for (0 without one)."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        owner, _, offset = raw.rpartition(":")
        if owner == uuid and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise bad_request(ERROR_INVALID_CURSOR, "Invalid cursor.")


def page_limit(value: str | None) -> int:
    """``?limit=``: a positive integer, at most the page maximum."""
    if value is None:
        return RECIPIENTS_PAGE_DEFAULT
    if not value.isdigit() or int(value) < 1:
        raise bad_request(contract.ERROR_VALIDATION, "limit must be a positive integer.")
    return min(int(value), RECIPIENTS_PAGE_MAX)


def json_or_none(raw: bytes) -> Any:
    """The JSON in ``raw``, or ``None`` when there is none (for the request log)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def json_body(raw: bytes) -> Body:
    """A POST body: a JSON object."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad_request(ERROR_INVALID_JSON, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise bad_request(ERROR_INVALID_JSON, "The body must be a JSON object.")
    return data
