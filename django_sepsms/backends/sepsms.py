"""The SEPSMS REST API v2 over HTTP: the provider's operations."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .. import contract
from ..conf import otp_code_length, sepsms_settings
from ..exceptions import (
    AmbiguousRequestError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
    ProviderUnavailableError,
    ProviderValidationError,
)
from .base import (
    BaseBackend,
    MessageStatusResult,
    OtpSendResult,
    OtpVerifyResult,
    OutgoingSms,
    RecipientStatusResult,
    SendResult,
)
from .transport import HttpTransport

_OTP_VERIFY_FAILURE_CODES = frozenset(
    {
        contract.ERROR_OTP_EXPIRED,
        contract.ERROR_OTP_NOT_FOUND,
        contract.ERROR_OTP_TOO_MANY_ATTEMPTS,
    }
)

_T = TypeVar("_T")


def _option(value: _T | None, setting: str) -> _T:
    """``value`` when given, else the ``SEPSMS`` setting named ``setting``."""
    return value if value is not None else getattr(sepsms_settings, setting)


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        pass
    try:
        return int(float(value))  # "18420.0"
    except (TypeError, ValueError, OverflowError):
        return default


def _as_mapping(result: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(result, Mapping):
        raise ProviderUnavailableError(
            f"The provider's answer to {what} is not an object.", code="response.unexpected"
        )
    return result


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


class SepsmsBackend(HttpTransport, BaseBackend):
    """Talks to SEPSMS API v2 through the connection pool its process shares
    with every backend of the same configuration (``backends/pools.py``).

    Options default to the ``SEPSMS`` settings: ``api_key``, ``base_url``,
    ``timeout`` (read) and ``connect_timeout`` (seconds), ``max_retries``,
    ``max_retry_wait``.
    """

    supports_provider_otp = True
    thread_safe_sends = True

    @sensitive_variables("api_key")
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_retries: int | None = None,
        max_retry_wait: float | None = None,
        fail_silently: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            api_key=_option(api_key, "API_KEY"),
            base_url=_option(base_url or None, "BASE_URL"),
            timeout=_option(timeout, "TIMEOUT"),
            connect_timeout=_option(connect_timeout, "CONNECT_TIMEOUT"),
            max_retries=_option(max_retries, "MAX_RETRIES"),
            max_retry_wait=_option(max_retry_wait, "MAX_RETRY_WAIT"),
            sleep=sleep,
            fail_silently=fail_silently,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r}>"

    # -- operations ---------------------------------------------------------

    @sensitive_variables("sms", "payload")
    def send_message(self, sms: OutgoingSms) -> SendResult:
        if len(sms.recipients) > self.batch_size:
            raise ProviderValidationError(
                f"{len(sms.recipients)} recipients exceed BATCH_SIZE={self.batch_size}.",
                code="local.batch_too_large",
            )
        payload: dict[str, Any] = {
            "origin": sms.origin,
            "message": sms.message,
            "recipients": list(sms.recipients),
            "scheduledTime": sms.scheduled_at.isoformat(timespec="seconds")
            if sms.scheduled_at
            else None,
        }
        if sms.variables:
            payload["variables"] = sms.variables
        result = self._request("POST", contract.PATH_SEND, json=payload, throttle_as="send")
        if not isinstance(result, Mapping) or not result.get("uuid"):
            raise AmbiguousRequestError(
                "The provider accepted the message but returned no uuid.",
                code="response.missing_uuid",
            )
        return SendResult(
            uuid=str(result["uuid"]),
            ref_no=str(result.get("refNo") or ""),
            total_msisdn=_as_int(result.get("totalMsisdn"), len(sms.recipients)),
            total_credit=_as_int(result.get("totalCredit")),
            blocked_count=_as_int(result.get("blockedCount")),
            status=str(result.get("status") or "pending"),
        )

    def send_otp(
        self, phone: str, *, origin: str, template: str, ttl: int, code_length: int
    ) -> OtpSendResult:
        low, high = contract.OTP_TTL_RANGE
        payload: dict[str, Any] = {
            "destination": phone,
            "origin": origin,
            "template": template,
            "ttlSeconds": min(high, max(low, int(ttl))),
            "codeLength": otp_code_length(code_length),
        }
        result = self._request("POST", contract.PATH_OTP_SEND, json=payload, throttle_as="otp")
        if not isinstance(result, Mapping) or not result.get("reference"):
            raise AmbiguousRequestError(
                "The provider accepted the code but sent no reference.",
                code="response.missing_reference",
            )
        ttl_seconds = _as_int(result.get("ttlSeconds"), payload["ttlSeconds"])
        expires_at = _as_datetime(result.get("expiresAt")) or (
            timezone.now() + timedelta(seconds=ttl_seconds)
        )
        return OtpSendResult(
            reference=str(result["reference"]),
            uuid=str(result.get("uuid") or ""),
            destination=str(result.get("destination") or phone),
            expires_at=expires_at,
            ttl_seconds=ttl_seconds,
        )

    @sensitive_variables("pin")
    def verify_otp(self, reference: str, pin: str) -> OtpVerifyResult:
        try:
            result = self._request(
                "POST", contract.PATH_OTP_VERIFY, json={"reference": reference, "pin": pin}
            )
        except ProviderError as exc:
            if exc.code in _OTP_VERIFY_FAILURE_CODES or exc.code.startswith("otp."):
                return OtpVerifyResult(reference, False, exc.code)
            if isinstance(exc, NotFoundError):
                return OtpVerifyResult(reference, False, contract.ERROR_OTP_NOT_FOUND)
            raise
        verified = isinstance(result, Mapping) and result.get("verified") is True
        return OtpVerifyResult(reference, verified)

    def get_message_status(self, uuid: str) -> MessageStatusResult:
        result = _as_mapping(
            self._request("GET", contract.PATH_MESSAGE.format(uuid=uuid)), "a status request"
        )
        summary: dict[str, int] = {}
        for row in result.get("drSummary") or []:
            if isinstance(row, Mapping) and row.get("drStatus"):
                summary[str(row["drStatus"])] = _as_int(row.get("count"))
        return MessageStatusResult(
            uuid=str(result.get("uuid") or uuid),
            status=str(result.get("status") or ""),
            origin=str(result.get("origin") or ""),
            total_msisdn=_as_int(result.get("totalMsisdn")),
            dr_summary=summary,
            refunded_count=_as_int(result.get("refundedCount")),
        )

    def iter_recipient_statuses(self, uuid: str) -> Iterator[RecipientStatusResult]:
        path = contract.PATH_RECIPIENTS.format(uuid=uuid)
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            result = self._request(
                "GET", path, params={contract.RECIPIENTS_CURSOR_PARAM: cursor} if cursor else None
            )
            items = result if isinstance(result, list) else (result or {}).get("items") or []
            for item in items:
                if isinstance(item, Mapping) and item.get("msisdn"):
                    yield RecipientStatusResult(
                        msisdn=str(item["msisdn"]),
                        dr_status=str(item.get("drStatus") or item.get("status") or ""),
                        tx_id=str(item.get("txId") or ""),
                        updated_at=_as_datetime(item.get("updatedAt")),
                    )
            cursor = None if isinstance(result, list) else (result or {}).get("nextCursor")
            if not cursor or cursor in seen:
                return
            seen.add(cursor)

    def get_balance(self) -> int:
        result = _as_mapping(self._request("GET", contract.PATH_BALANCE), "a balance request")
        return _as_int(result.get("balance"))

    def cancel_message(self, uuid: str) -> None:
        raise NotSupportedError(
            "Cancelling a scheduled message is not supported by SEPSMS API v2 as documented: "
            "the provider names no endpoint for it. Cancel it in the provider's dashboard."
        )
