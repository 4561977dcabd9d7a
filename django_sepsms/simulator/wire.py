"""The provider's wire format as the simulator speaks it.

Error codes and the :class:`ApiError` that becomes the error envelope, the
strict number format, timestamps, ``Retry-After`` values and webhook events.
Nothing here holds state or knows about sockets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .. import contract

#: A webhook to send: ``(event name, JSON payload)``.
Event = tuple[str, dict[str, Any]]

# [assumed] Error codes the page does not list, in the dotted form of the one it does.
ERROR_INVALID_JSON = "validation.invalid_json"
ERROR_INVALID_RECIPIENTS = "validation.invalid_recipients"
ERROR_INVALID_DESTINATION = "validation.invalid_destination"
ERROR_TOO_MANY_RECIPIENTS = "validation.too_many_recipients"
ERROR_INVALID_SCHEDULED_TIME = "validation.invalid_scheduled_time"
ERROR_INVALID_VARIABLES = "validation.invalid_variables"
ERROR_INVALID_TEMPLATE = "validation.invalid_template"
ERROR_INVALID_TTL = "validation.invalid_ttl"
ERROR_INVALID_CODE_LENGTH = "validation.invalid_code_length"
ERROR_INVALID_CURSOR = "validation.invalid_cursor"
ERROR_MESSAGE_NOT_FOUND = "message.not_found"
ERROR_OTP_ALREADY_VERIFIED = "otp.already_verified"
ERROR_METHOD_NOT_ALLOWED = "request.method_not_allowed"
ERROR_BODY_TOO_LARGE = "request.too_large"
ERROR_LEGACY = "legacy.not_supported"
ERROR_UNAVAILABLE = "server.unavailable"


class ApiError(Exception):
    """A request the provider refuses: becomes ``{"success": false, "error": {...}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def normalise_msisdn(value: object) -> str | None:
    """``0xxxxxxxxx`` or ``66xxxxxxxxx`` (a Thai mobile) as ``66xxxxxxxxx``; else ``None``.

    Deliberately as strict as the provider's page: digits only, no ``+`` or spaces.
    """
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    national = contract.NORMALISED_LENGTH - len(contract.COUNTRY_CODE)
    if value.startswith("0") and len(value) == national + 1:
        value = contract.COUNTRY_CODE + value[1:]
    if len(value) != contract.NORMALISED_LENGTH or not value.startswith(contract.COUNTRY_CODE):
        return None
    if not value[len(contract.COUNTRY_CODE)].startswith(contract.MOBILE_PREFIXES):
        return None
    return value


def normalised_set(numbers: Iterable[str]) -> set[str]:
    """``numbers`` in the ``66…`` form where they are valid, as given where not."""
    return {normalise_msisdn(n) or n for n in numbers}


def utcnow() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def from_timestamp(epoch: float) -> datetime:
    """A POSIX timestamp as a UTC datetime."""
    return datetime.fromtimestamp(epoch, UTC)


def iso_millis(moment: datetime) -> str:
    """``2026-01-15T10:35:00.000Z``, the provider's timestamp format."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def ceil_seconds(seconds: float) -> int:
    """``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))
