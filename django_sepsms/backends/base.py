"""The interface every backend implements, and the values it exchanges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from django.utils import timezone

from .. import contract
from ..conf import sepsms_settings
from ..exceptions import NotSupportedError
from ..phone import mask_phone
from ..segments import count_segments


@dataclass(frozen=True)
class OutgoingSms:
    """One request's worth of SMS: a text, its numbers and how to send it.

    ``recipients`` are normalised (``66xxxxxxxxx``); ``variables`` maps some of
    them to the values of their ``{placeholders}``.
    """

    message: str
    recipients: Sequence[str]
    origin: str
    scheduled_at: datetime | None = None
    variables: dict[str, dict[str, Any]] | None = None

    def rendered(self) -> Iterator[tuple[str, str]]:
        """Yield ``(number, final text)`` for every recipient."""
        variables = self.variables or {}
        for phone in self.recipients:
            yield phone, contract.render_variables(self.message, variables.get(phone))

    def __repr__(self) -> str:
        # Shown on error pages and by %r: never the text (it may hold a code) nor a number.
        return (
            f"<OutgoingSms {len(self.message)} characters for {_recipients(self.recipients)} "
            f"from {self.origin!r}>"
        )


def _recipients(phones: Sequence[str]) -> str:
    if not phones:
        return "no one"
    more = f" and {len(phones) - 1} more" if len(phones) > 1 else ""
    return mask_phone(phones[0]) + more


@dataclass(frozen=True)
class SendResult:
    """What the provider answered to one send request."""

    uuid: str
    ref_no: str = ""
    total_msisdn: int = 0
    total_credit: int = 0
    blocked_count: int = 0
    status: str = "pending"
    #: True when the backend delivered already (the local backends do).
    delivered: bool = False


@dataclass(frozen=True)
class OtpSendResult:
    """What the provider answered to ``/otp/send``. It never holds the code."""

    reference: str
    uuid: str
    destination: str
    expires_at: datetime
    ttl_seconds: int

    def __repr__(self) -> str:
        return (
            f"OtpSendResult(reference={self.reference!r}, uuid={self.uuid!r}, "
            f"destination={mask_phone(self.destination)!r}, expires_at={self.expires_at!r}, "
            f"ttl_seconds={self.ttl_seconds!r})"
        )


@dataclass(frozen=True)
class OtpVerifyResult:
    """``verified`` and, when not, the provider's error code if it gave one."""

    reference: str
    verified: bool
    error_code: str = ""


@dataclass(frozen=True)
class MessageStatusResult:
    """A message's provider-side summary (``GET /message/{uuid}``)."""

    uuid: str
    status: str
    origin: str = ""
    total_msisdn: int = 0
    dr_summary: dict[str, int] = field(default_factory=dict)
    refunded_count: int = 0


@dataclass(frozen=True)
class RecipientStatusResult:
    """One number's delivery report (``GET /message/{uuid}/recipients``)."""

    msisdn: str
    dr_status: str
    tx_id: str = ""
    updated_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"RecipientStatusResult(msisdn={mask_phone(self.msisdn)!r}, "
            f"dr_status={self.dr_status!r}, tx_id={self.tx_id!r}, updated_at={self.updated_at!r})"
        )


class BaseBackend:
    """Base class of SMS backends, shaped like Django's e-mail backends.

    Subclasses implement :meth:`send_message` at least. A backend may be used
    as a context manager, which opens one connection for several calls.
    """

    #: Whether the backend makes and checks OTP codes itself (``/otp/*``).
    #: When False, the app makes the code, keeps only a keyed hash of it and
    #: sends it as an ordinary SMS.
    supports_provider_otp = False

    #: Whether :meth:`send_message` may run in several threads at once (one
    #: message's batches then overlap; see ``SEND_CONCURRENCY``).
    thread_safe_sends = False

    def __init__(self, *, fail_silently: bool = False, **kwargs: Any) -> None:
        self.fail_silently = fail_silently

    @property
    def batch_size(self) -> int:
        """The most recipients one :meth:`send_message` call may carry."""
        return max(1, sepsms_settings.BATCH_SIZE)

    def open(self) -> None:
        """Open a connection; a no-op unless the backend has one."""

    def close(self) -> None:
        """Close the connection opened by :meth:`open`."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send_message(self, sms: OutgoingSms) -> SendResult:
        """Send one request (at most :attr:`batch_size` recipients)."""
        raise NotImplementedError

    def send_messages(self, messages: Sequence[OutgoingSms]) -> int:
        """Send several; return how many were accepted."""
        sent = 0
        with self:
            for sms in messages:
                self.send_message(sms)
                sent += 1
        return sent

    def send_otp(
        self, phone: str, *, origin: str, template: str, ttl: int, code_length: int
    ) -> OtpSendResult:
        """Ask the provider to make and send a code."""
        raise NotSupportedError(f"{type(self).__name__} does not generate OTP codes.")

    def verify_otp(self, reference: str, pin: str) -> OtpVerifyResult:
        """Ask the provider whether ``pin`` is the code of ``reference``."""
        raise NotSupportedError(f"{type(self).__name__} does not check OTP codes.")

    def get_message_status(self, uuid: str) -> MessageStatusResult:
        """The provider's summary of a sent message."""
        raise NotSupportedError(f"{type(self).__name__} keeps no delivery status.")

    def iter_recipient_statuses(self, uuid: str) -> Iterator[RecipientStatusResult]:
        """Every recipient's delivery report for a sent message."""
        raise NotSupportedError(f"{type(self).__name__} keeps no delivery status.")

    def get_balance(self) -> int:
        """The account's remaining credits."""
        raise NotSupportedError(f"{type(self).__name__} has no credit balance.")

    def cancel_message(self, uuid: str) -> None:
        """Cancel a scheduled message."""
        raise NotSupportedError(f"{type(self).__name__} cannot cancel messages.")


#: The balance local backends report: they never run out.
LOCAL_BALANCE = 1_000_000


class LocalBackend(BaseBackend):
    """Base of the backends that deliver nowhere real (console, locmem, dummy).

    They accept every message at once and report it delivered.
    """

    def send_message(self, sms: OutgoingSms) -> SendResult:
        credits = sum(count_segments(text) for _, text in sms.rendered())
        self.deliver(sms)
        return SendResult(
            uuid=str(uuid.uuid4()),
            ref_no="LOCAL" + timezone.now().strftime("%y%m%d%H%M%S"),
            total_msisdn=len(sms.recipients),
            total_credit=credits,
            status="completed",
            delivered=True,
        )

    def deliver(self, sms: OutgoingSms) -> None:
        """Put ``sms`` wherever this backend puts things."""

    def get_message_status(self, uuid: str) -> MessageStatusResult:
        return MessageStatusResult(uuid=uuid, status="completed")

    def iter_recipient_statuses(self, uuid: str) -> Iterator[RecipientStatusResult]:
        return iter(())

    def get_balance(self) -> int:
        return LOCAL_BALANCE

    def cancel_message(self, uuid: str) -> None:
        return None


def otp_expiry(ttl: int) -> datetime:
    return timezone.now() + timedelta(seconds=ttl)
