"""The refusals of the JSON API: one shape, ``{"code": ..., "detail": ...}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.response import Response

from ..exceptions import OtpRateLimited

#: Seconds a client should wait after provider trouble.
UNAVAILABLE_RETRY_AFTER = 30

RATE_LIMITED = _("Too many attempts. Please wait %(seconds)s seconds and try again.")
UNAVAILABLE = _("We could not send or check the code just now. Please try again later.")
INVALID_CODE = _("The code is not right, or it has expired.")
INVALID_REQUEST = _("The request is not valid.")
INVALID_TOKEN = _("The token is not valid, or it has expired.")


def error_response(status_code: int, code: str, detail: Any, **extra: Any) -> Response:
    """A refusal with a stable ``code`` and a translated ``detail``."""
    return Response({"code": code, "detail": str(detail), **extra}, status=status_code)


def rate_limited_response(exc: OtpRateLimited) -> Response:
    """429 with ``Retry-After``; the body repeats the wait as ``retry_after``."""
    response = error_response(
        status.HTTP_429_TOO_MANY_REQUESTS,
        "rate_limited",
        RATE_LIMITED % {"seconds": exc.retry_after},
        retry_after=exc.retry_after,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def unavailable_response() -> Response:
    """503 with ``Retry-After: 30``: provider trouble, nothing of it shown."""
    response = error_response(status.HTTP_503_SERVICE_UNAVAILABLE, "unavailable", UNAVAILABLE)
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response


def invalid_code_response() -> Response:
    """The one answer to every code that does not verify, whatever the reason."""
    return error_response(
        status.HTTP_400_BAD_REQUEST, "invalid_code", INVALID_CODE, verified=False
    )


def invalid_request_response(errors: Mapping[str, Any], codes: Mapping[str, str]) -> Response:
    """400 for a body that does not validate.

    A field named in ``codes`` gives its own code (e.g. ``phone`` →
    ``invalid_phone``) and its first message; otherwise ``invalid_request``
    with the field errors.
    """
    for field, code in codes.items():
        if field in errors:
            messages = errors[field]
            detail = messages[0] if isinstance(messages, list) and messages else INVALID_REQUEST
            return error_response(status.HTTP_400_BAD_REQUEST, code, detail)
    return error_response(
        status.HTTP_400_BAD_REQUEST, "invalid_request", INVALID_REQUEST, errors=dict(errors)
    )
