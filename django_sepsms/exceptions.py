"""Exceptions raised by django-sepsms.

Provider answers become :class:`ProviderError` subclasses carrying the HTTP
status, the provider's ``error.code`` and its message. Problems of this site's
setup (:class:`ConfigurationError`, and a key the provider refuses or that
lacks a scope or an allowed IP) are never hidden by ``fail_silently``.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation


class SepsmsError(Exception):
    """Base class of every error this app raises."""

    #: A short machine-readable code (the provider's ``error.code`` for provider errors).
    code: str = ""
    #: Whether the same request may be sent again without risk of a double send.
    retryable: bool = False
    #: Whether this site's setup is wrong (settings, API key, scopes, allowed IPs):
    #: ``fail_silently`` never hides such an error.
    configuration_problem: bool = False


def error_code_of(exc: BaseException) -> str:
    """The code recorded for ``exc``: its ``code``, else the name of its class."""
    return str(getattr(exc, "code", "") or type(exc).__name__)


class ConfigurationError(SepsmsError, ImproperlyConfigured):
    """The ``SEPSMS`` settings are incomplete or contradictory."""

    configuration_problem = True


class NotSupportedError(SepsmsError):
    """The backend (or the provider's API version) cannot do this."""


class ProviderError(SepsmsError):
    """The provider refused or failed a request.

    :ivar status: the HTTP status (``None`` when no answer came back).
    :ivar code: the provider's ``error.code``, e.g. ``credit.insufficient``.
    :ivar message: the provider's human-readable message.
    """

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.message = message or self.__class__.__doc__ or ""
        self.status = status
        self.code = code
        self.retry_after = retry_after
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [p for p in (str(self.status or ""), self.code) if p]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r})"
        )


class AuthenticationError(ProviderError):
    """The API key is missing or invalid (401)."""

    configuration_problem = True


class PermissionDeniedError(ProviderError):
    """The key lacks the scope, or this server's IP is not allowed (403)."""

    configuration_problem = True


class ProviderValidationError(ProviderError):
    """The provider rejected the request's content (400/422)."""


class InsufficientCreditError(ProviderError):
    """The account has too few credits for this send."""


class NotFoundError(ProviderError):
    """The provider knows no such message or reference (404)."""


class RateLimitedError(ProviderError):
    """Over the provider's rate limit (429); ``retry_after`` says for how long."""

    retryable = True


class ProviderUnavailableError(ProviderError):
    """The provider failed (5xx)."""


class NetworkError(ProviderError):
    """No connection could be made: the request never left this server."""

    retryable = True


class AmbiguousRequestError(ProviderError):
    """The request was sent but no answer came back in time.

    The provider may have acted on it, so it is never sent again blindly:
    ``sepsms_sync`` finds out what happened.
    """


class ProviderTimeoutError(ProviderError):
    """No connection or no answer came within ``CONNECT_TIMEOUT`` / ``TIMEOUT``.

    Raised as one of the two classes below, which say whether the request may
    have been acted on; catch this one to handle every timeout alike.
    """


class NetworkTimeoutError(NetworkError, ProviderTimeoutError):
    """A timeout that left nothing done: the connection was never made, or a
    ``GET`` got no answer. Safe to try again."""


class AmbiguousTimeoutError(AmbiguousRequestError, ProviderTimeoutError):
    """A ``POST`` was sent and no answer came within ``TIMEOUT``: the provider may
    have acted on it, so it is never sent again blindly."""


class OtpError(SepsmsError):
    """An OTP could not be sent (limits, bad number, provider failure)."""


class OtpRateLimited(OtpError):
    """Over a limit: nothing was sent or checked. ``retry_after`` is in seconds."""

    def __init__(self, limit: str, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"Over the {limit} limit; retry in {self.retry_after}s.")


class CodeUnavailable(SepsmsError):
    """The code could not be sent or checked now: try later.

    The built-in flows do not raise it (their answers never depend on the
    provider); views keep catching it for flows of a project's own.
    """


class InvalidToken(SepsmsError):
    """A token is malformed, forged, expired, or for another purpose."""


class WebhookValidationError(SepsmsError, SuspiciousOperation):
    """A webhook delivery is not genuine: bad or missing signature, stale timestamp."""
