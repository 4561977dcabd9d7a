"""The life of a one-time code: send it, check it, once.

With a backend that supports it (the HTTP backend in ``OTP_MODE="provider"``)
the provider makes and checks the code; otherwise the app makes it with
:mod:`secrets`, keeps only a keyed hash and sends it as an ordinary SMS. Either
way the app enforces expiry, the attempt cap and single use, under a row lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.debug import sensitive_variables

from .. import contract
from ..backends.base import BaseBackend
from ..backends.loading import get_backend
from ..conf import sepsms_settings
from ..exceptions import (
    AmbiguousRequestError,
    NotSupportedError,
    ProviderError,
    SepsmsError,
    error_code_of,
)
from ..models import Message, OtpChallenge
from ..phone import PhoneInput, mask_phone, normalize_phone
from ..sending import PreparedMessage, deliver_message, record_message, resolve_origin
from ..signals import otp_failed, otp_sent, otp_verified, send_after_commit
from ..telemetry import hooks as telemetry
from ..tracking.events import apply_waiting_events
from .codes import (
    ascii_digits,
    hash_code,
    make_code,
    make_reference,
    render_otp_text,
    uses_provider_otp,
)
from .purposes import Purpose
from .replacing import REPLACEABLE as _REPLACEABLE
from .replacing import save_replacing_earlier as _save_replacing_earlier

logger = logging.getLogger("django_sepsms")

#: Codes a new one for the same number and purpose replaces.

_MAX_PIN_LENGTH = 16


class Reason:
    """Why a verification failed. For logs and signals, never for end users."""

    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    USED = "used"
    UNKNOWN = "unknown"
    ERROR = "error"


@dataclass(frozen=True)
class VerificationResult:
    """The answer of :func:`verify_otp`: truthy only when the code was right.

    ``reason`` says why not; show end users one generic message whatever it is.
    """

    verified: bool
    reason: str
    challenge: OtpChallenge | None = None

    def __bool__(self) -> bool:
        return self.verified


def send_otp(
    phone: PhoneInput,
    *,
    purpose: str = Purpose.VERIFY,
    user: Any = None,
    request: HttpRequest | None = None,
    backend: BaseBackend | None = None,
) -> OtpChallenge:
    """Send a new code to ``phone`` and return its :class:`OtpChallenge`.

    Earlier pending codes of the same number and purpose are cancelled. Raises
    ``ValidationError`` for a bad number and a :class:`ProviderError` when the
    code could not be sent: recorded on the challenge as ``send_failed``, or as
    ``unconfirmed`` when the provider may have sent it anyway (the request timed
    out or a ``5xx`` came back: an :class:`~django_sepsms.exceptions.AmbiguousRequestError`).
    """
    challenge, error = attempt_otp(
        phone, purpose=purpose, user=user, request=request, backend=backend
    )
    if error is not None:
        raise error
    return challenge


def attempt_otp(
    phone: PhoneInput,
    *,
    purpose: str = Purpose.VERIFY,
    user: Any = None,
    request: HttpRequest | None = None,
    backend: BaseBackend | None = None,
    replace_earlier: bool = True,
) -> tuple[OtpChallenge, SepsmsError | None]:
    """Like :func:`send_otp`, but a failed send is returned beside its challenge, not raised.

    ``replace_earlier=False`` spares the ``UPDATE`` that cancels earlier codes,
    for a caller that has just seen that none of this number and purpose is
    pending (``otp.flows.request_code``, whose cooldown lets one request for a
    number through at a time).
    """
    phone = normalize_phone(phone)
    backend = backend or get_backend()
    ttl = sepsms_settings.OTP_TTL
    template = sepsms_settings.OTP_TEMPLATE
    if contract.OTP_CODE_PLACEHOLDER not in template:
        raise ValidationError('OTP_TEMPLATE must contain "{code}".', code="invalid_template")
    origin = resolve_origin(None)
    provider = uses_provider_otp(backend)
    challenge = OtpChallenge(  # saved with the earlier codes' replacement, before any send
        reference="" if provider else make_reference(),
        phone=phone,
        purpose=purpose,
        mode=OtpChallenge.Mode.PROVIDER if provider else OtpChallenge.Mode.LOCAL,
        max_attempts=sepsms_settings.OTP_MAX_ATTEMPTS,
        user=user if getattr(user, "pk", None) else None,
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    try:
        if provider:
            _send_provider_code(challenge, backend, origin, template, ttl, replace_earlier)
        else:
            _send_local_code(challenge, backend, origin, template, replace_earlier)
    except SepsmsError as exc:
        code = error_code_of(exc)
        status = (
            OtpChallenge.Status.UNCONFIRMED
            if isinstance(exc, AmbiguousRequestError)
            else OtpChallenge.Status.SEND_FAILED
        )
        OtpChallenge.objects.filter(pk=challenge.pk).update(status=status, error_code=code[:64])
        challenge.status, challenge.error_code = status, code[:64]
        if status == OtpChallenge.Status.UNCONFIRMED:
            logger.warning("OTP to %s may or may not have been sent: %s", mask_phone(phone), code)
        else:
            logger.warning("OTP to %s could not be sent: %s", mask_phone(phone), code)
        telemetry.otp_requested(purpose, challenge.mode, status)
        return challenge, exc
    telemetry.otp_requested(purpose, challenge.mode, "sent")
    send_after_commit(otp_sent, OtpChallenge, challenge=challenge, request=request)
    return challenge, None


def _send_provider_code(
    challenge: OtpChallenge,
    backend: BaseBackend,
    origin: str,
    template: str,
    ttl: int,
    replace_earlier: bool,
) -> None:
    with transaction.atomic():
        _save_replacing_earlier(challenge, replace_earlier)
    result = backend.send_otp(
        challenge.phone,
        origin=origin,
        template=template,
        ttl=ttl,
        code_length=sepsms_settings.otp_code_length,
    )
    challenge.reference = contract.normalise_reference(result.reference)
    challenge.provider_uuid = result.uuid
    # Never trust a longer life than we asked for.
    challenge.expires_at = min(challenge.expires_at, result.expires_at)
    challenge.save(update_fields=["reference", "provider_uuid", "expires_at"])
    # The code's delivery report may have come first: it has nothing to wait for.
    apply_waiting_events(result.uuid)


@sensitive_variables()  # every frame below holds the code's text or the number
def _send_local_code(
    challenge: OtpChallenge,
    backend: BaseBackend,
    origin: str,
    template: str,
    replace_earlier: bool,
) -> None:
    code = make_code(sepsms_settings.otp_code_length)
    challenge.code_hash = hash_code(challenge.reference, challenge.phone, code)
    redacted = render_otp_text(template, "*" * len(code), challenge.reference)
    prepared = PreparedMessage(redacted, [challenge.phone], origin, None, None, Message.Kind.OTP)
    with transaction.atomic():
        # Claimed as it is recorded: a code goes out now or never, not resumed later
        # (the message records the redacted text only).
        msg = record_message(prepared, claimed=True)
        challenge.message = msg
        _save_replacing_earlier(challenge, replace_earlier)
    deliver_message(
        msg,
        backend=backend,
        text=render_otp_text(template, code, challenge.reference),
        recorded=prepared,
    )


@sensitive_variables()
def verify_otp(
    reference: str,
    pin: str,
    *,
    phone: PhoneInput | None = None,
    purpose: str | None = None,
    request: HttpRequest | None = None,
    backend: BaseBackend | None = None,
) -> VerificationResult:
    """Check ``pin`` against the code sent under ``reference``.

    Pass ``phone`` (and ``purpose``) to bind the check to the flow that asked
    for the code. The result is truthy only when verified; a challenge
    verifies at most once, never after it expires or runs out of attempts.
    """
    pin = ascii_digits("".join(str(pin or "").split()))[:_MAX_PIN_LENGTH]
    reference = contract.normalise_reference(reference)
    now = timezone.now()
    with transaction.atomic():
        qs = OtpChallenge.objects.select_for_update().filter(reference=reference)
        if phone is not None:
            try:
                qs = qs.filter(phone=normalize_phone(phone))
            except ValidationError:
                qs = qs.none()
        if purpose is not None:
            qs = qs.filter(purpose=purpose)
        challenge = qs.exclude(reference="").order_by("-created_at", "-id").first()
        result = _check(challenge, pin, now, backend)
    telemetry.otp_checked(result.verified, result.reason, purpose)
    if result.verified:
        send_after_commit(otp_verified, OtpChallenge, challenge=result.challenge, request=request)
    else:
        logger.info(
            "OTP verification failed (%s) for %s",
            result.reason,
            mask_phone(challenge.phone) if challenge else "unknown reference",
        )
        send_after_commit(
            otp_failed,
            OtpChallenge if challenge else None,
            challenge=challenge,
            reason=result.reason,
            request=request,
        )
    return result


@sensitive_variables("pin")
def _check(
    challenge: OtpChallenge | None, pin: str, now: Any, backend: BaseBackend | None
) -> VerificationResult:
    if challenge is None:
        return VerificationResult(False, Reason.UNKNOWN)
    status = challenge.status
    if status == OtpChallenge.Status.VERIFIED:
        return VerificationResult(False, Reason.USED, challenge)
    if status == OtpChallenge.Status.EXHAUSTED:
        return VerificationResult(False, Reason.EXHAUSTED, challenge)
    if status == OtpChallenge.Status.EXPIRED:
        return VerificationResult(False, Reason.EXPIRED, challenge)
    # An unconfirmed local code may well have arrived: it verifies like a pending one.
    if status not in _REPLACEABLE:
        return VerificationResult(False, Reason.UNKNOWN, challenge)
    if now >= challenge.expires_at:
        _save(challenge, status=OtpChallenge.Status.EXPIRED)
        return VerificationResult(False, Reason.EXPIRED, challenge)
    if challenge.attempts >= challenge.max_attempts:
        _save(challenge, status=OtpChallenge.Status.EXHAUSTED)
        telemetry.otp_locked("attempts", "verify")
        return VerificationResult(False, Reason.EXHAUSTED, challenge)

    challenge.attempts += 1
    challenge.last_attempt_at = now
    well_formed = pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8
    try:
        if not well_formed:
            ok = False
        elif challenge.mode == OtpChallenge.Mode.LOCAL:
            ok = constant_time_compare(
                hash_code(challenge.reference, challenge.phone, pin), challenge.code_hash
            )
        else:
            ok = _provider_says(challenge, pin, backend)
    except (ProviderError, NotSupportedError) as exc:
        # The attempt counts: an attacker must not get free guesses from errors.
        challenge.error_code = error_code_of(exc)[:64]
        _save(challenge)
        return VerificationResult(False, Reason.ERROR, challenge)
    if ok:
        challenge.verified_at = now
        _save(challenge, status=OtpChallenge.Status.VERIFIED)
        return VerificationResult(True, Reason.VERIFIED, challenge)
    if challenge.attempts >= challenge.max_attempts:
        _save(challenge, status=OtpChallenge.Status.EXHAUSTED)
        telemetry.otp_locked("attempts", "verify")
    else:
        _save(challenge)
    return VerificationResult(False, Reason.WRONG, challenge)


@sensitive_variables("pin")
def _provider_says(challenge: OtpChallenge, pin: str, backend: BaseBackend | None) -> bool:
    answer = (backend or get_backend()).verify_otp(challenge.reference, pin)
    if answer.error_code == contract.ERROR_OTP_EXPIRED:
        challenge.expires_at = min(challenge.expires_at, timezone.now())
    elif answer.error_code == contract.ERROR_OTP_TOO_MANY_ATTEMPTS:
        challenge.attempts = max(challenge.attempts, challenge.max_attempts)
    return answer.verified


def _save(challenge: OtpChallenge, *, status: str | None = None) -> None:
    if status is not None:
        challenge.status = status
    challenge.save(
        update_fields=[
            "status",
            "attempts",
            "last_attempt_at",
            "verified_at",
            "error_code",
            "expires_at",
        ]
    )


async def asend_otp(
    phone: PhoneInput,
    *,
    purpose: str = Purpose.VERIFY,
    user: Any = None,
    request: HttpRequest | None = None,
    backend: BaseBackend | None = None,
) -> OtpChallenge:
    """:func:`send_otp` for async code: the same arguments, result and errors.

    It runs in the caller's sync thread (``thread_sensitive=True``): the challenge
    is written before the send and updated after it, on the connection Django
    keeps for that thread. The event loop goes on meanwhile.
    """
    return await sync_to_async(send_otp, thread_sensitive=True)(
        phone, purpose=purpose, user=user, request=request, backend=backend
    )


@sensitive_variables()
async def averify_otp(
    reference: str,
    pin: str,
    *,
    phone: PhoneInput | None = None,
    purpose: str | None = None,
    request: HttpRequest | None = None,
    backend: BaseBackend | None = None,
) -> VerificationResult:
    """:func:`verify_otp` for async code: the same arguments and result.

    The check locks the challenge's row in a transaction, so it runs in the
    caller's sync thread (``thread_sensitive=True``), as the ORM requires.
    """
    return await sync_to_async(verify_otp, thread_sensitive=True)(
        reference, pin, phone=phone, purpose=purpose, request=request, backend=backend
    )
