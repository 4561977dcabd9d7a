"""The provider's error envelope becomes the right exception, whatever it holds."""

from __future__ import annotations

from typing import Any

import pytest

from django_sepsms.backends.errors import error_from_response, parse_retry_after
from django_sepsms.exceptions import (
    AuthenticationError,
    InsufficientCreditError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    ProviderValidationError,
    RateLimitedError,
)


def envelope(code: str, message: str = "Nope.") -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message}}


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        # The documented code, and the dotted families.
        (401, "auth.invalid_credentials", AuthenticationError),
        (403, "auth.forbidden_scope", PermissionDeniedError),
        (403, "auth.ip_not_allowed", PermissionDeniedError),
        (402, "credit.insufficient", InsufficientCreditError),
        (400, "credit.insufficient", InsufficientCreditError),
        (400, "validation.invalid", ProviderValidationError),
        (500, "server.error", ProviderUnavailableError),
        (404, "message.not_found", NotFoundError),
        # A 429 is a rate limit whatever its code says.
        (429, "validation.invalid", RateLimitedError),
        # Unknown codes map by HTTP status.
        (400, "weird.thing", ProviderValidationError),
        (422, "weird.thing", ProviderValidationError),
        (401, "weird.thing", AuthenticationError),
        (402, "weird.thing", InsufficientCreditError),
        (403, "weird.thing", PermissionDeniedError),
        (404, "weird.thing", NotFoundError),
        (502, "weird.thing", ProviderUnavailableError),
        (418, "weird.thing", ProviderError),
        (400, "", ProviderValidationError),
    ],
)
def test_codes_and_statuses(status: int, code: str, expected: type[ProviderError]) -> None:
    error = error_from_response(status, envelope(code))
    assert type(error) is expected
    assert (error.status, error.code, error.message) == (status, code, "Nope.")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"success": False, "error": "Plain words"}, "Plain words"),
        ({"success": False, "message": "At the top"}, "At the top"),
        (None, "The provider answered HTTP 500."),
        ("<html>Bad gateway</html>", "The provider answered HTTP 500."),
        ({"error": {"code": "x" * 300, "message": "y" * 300}}, "y" * 255),
    ],
)
def test_odd_bodies_still_give_a_clear_error(body: Any, message: str) -> None:
    error = error_from_response(500, body)
    assert isinstance(error, ProviderUnavailableError)
    assert error.message == message
    assert len(error.code) <= 64


@pytest.mark.parametrize(
    ("header", "seconds"), [("30", 30.0), (" 2.5 ", 2.5), ("-4", 0.0), ("soon", None), ("", None)]
)
def test_retry_after(header: str, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds
    error = error_from_response(429, envelope("rate_limit.exceeded"), {"Retry-After": header})
    assert error.retry_after == seconds
