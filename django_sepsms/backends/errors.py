"""Turning the provider's error envelope into exceptions.

The page documents one code (``auth.invalid_credentials``); the others are
read by their dotted prefix, and anything unknown falls back to the HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import contract
from ..exceptions import (
    AuthenticationError,
    InsufficientCreditError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    ProviderValidationError,
    RateLimitedError,
)
from ..telemetry import hooks as telemetry

_BY_PREFIX: list[tuple[str, type[ProviderError]]] = [
    (contract.ERROR_INVALID_CREDENTIALS, AuthenticationError),
    ("auth.", PermissionDeniedError),
    ("credit.", InsufficientCreditError),
    ("rate_limit.", RateLimitedError),
    ("validation.", ProviderValidationError),
    ("server.", ProviderUnavailableError),
]

_BY_STATUS: dict[int, type[ProviderError]] = {
    400: ProviderValidationError,
    401: AuthenticationError,
    402: InsufficientCreditError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: ProviderValidationError,
    429: RateLimitedError,
}


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (only the delta-seconds form is used)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def error_from_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> ProviderError:
    """Build the exception for an error answer. Never includes request headers."""
    code, message = "", ""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            code = str(error.get("code") or "")[:64]
            message = str(error.get("message") or "")[:255]
        elif isinstance(error, str):
            message = error[:255]
        message = message or str(body.get("message") or "")[:255]
    klass: type[ProviderError] | None = None
    if status == 429:
        klass = RateLimitedError
    else:
        klass = next((k for prefix, k in _BY_PREFIX if code.startswith(prefix)), None)
    if klass is None:
        if code.endswith(".not_found"):
            klass = NotFoundError
        elif status >= 500:
            klass = ProviderUnavailableError
        else:
            klass = _BY_STATUS.get(status, ProviderError)
    retry_after = parse_retry_after((headers or {}).get(contract.HEADER_RETRY_AFTER))
    telemetry.provider_error(status, code)
    return klass(
        message or f"The provider answered HTTP {status}.",
        status=status,
        code=code,
        retry_after=retry_after,
    )
