"""The two steps of every phone flow (web pages and API alike): ask for a code, check it.

Numbers nobody may use here (unknown at login when sign-up is off, or another
account's number) get a decoy: the same answers, limits and timing as a real
request, but no SMS and no challenge, so the code can never be right.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import caches
from django.http import HttpRequest
from django.utils import timezone

from . import limits
from .conf import sepsms_settings
from .exceptions import SepsmsError
from .models import PhoneNumber
from .otp import VerificationResult, make_reference, send_otp, verify_otp
from .phone import mask_phone, normalize_phone

logger = logging.getLogger("django_sepsms")

#: Purposes of the built-in flows.
LOGIN = "login"
ADD_PHONE = "phone"

_TIMING_KEY = "sepsms:timing:{}"
_DEFAULT_TIMING = {"send": 0.15, "verify": 0.05}


class CodeUnavailable(SepsmsError):
    """The code could not be sent or checked now (provider trouble): try later."""


@dataclass(frozen=True)
class CodeRequest:
    """A code was sent (or a decoy answered): what the second step needs."""

    phone: str
    purpose: str
    reference: str
    expires_at: datetime
    resend_at: datetime

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


def may_receive(phone: str, purpose: str, user: Any = None) -> bool:
    """Whether a code for ``purpose`` may really go to ``phone``."""
    owner_id = PhoneNumber.objects.filter(phone=phone).values_list("user_id", flat=True).first()
    if purpose == LOGIN:
        return owner_id is not None or sepsms_settings.LOGIN_CREATE_USERS
    if purpose == ADD_PHONE:
        return owner_id is None or owner_id == getattr(user, "pk", None)
    return True


def request_code(
    request: HttpRequest | None, raw_phone: str, purpose: str, *, user: Any = None
) -> CodeRequest:
    """Send a code for ``purpose`` to ``raw_phone``, within every limit.

    Raises ``ValidationError`` (bad number), :class:`~django_sepsms.limits.OtpRateLimited`
    or :class:`CodeUnavailable`.
    """
    phone = normalize_phone(raw_phone)
    limits.check_send(phone, limits.client_ip(request))
    started = time.monotonic()
    now = timezone.now()
    resend_at = now + timedelta(seconds=sepsms_settings.OTP_RESEND_COOLDOWN)
    if not may_receive(phone, purpose, user):
        _pause_like("send")
        logger.info("Code request for %s (%s) answered without an SMS", mask_phone(phone), purpose)
        return CodeRequest(
            phone,
            purpose,
            make_reference(),
            now + timedelta(seconds=sepsms_settings.OTP_TTL),
            resend_at,
        )
    try:
        challenge = send_otp(phone, purpose=purpose, user=user, request=request)
    except SepsmsError as exc:
        limits.release_cooldown(phone)
        raise CodeUnavailable(str(exc)) from exc
    _remember("send", time.monotonic() - started)
    return CodeRequest(phone, purpose, challenge.reference, challenge.expires_at, resend_at)


def check_code(
    request: HttpRequest | None, *, phone: str, purpose: str, reference: str, pin: str
) -> VerificationResult:
    """Check ``pin`` for the flow's own ``reference``, number and purpose.

    Raises :class:`~django_sepsms.limits.OtpRateLimited` when the number or
    client is locked out (nothing is checked then).
    """
    attempt = limits.check_verify(phone, limits.client_ip(request))
    started = time.monotonic()
    result = verify_otp(reference, pin, phone=phone, purpose=purpose, request=request)
    if result.verified:
        attempt.forgive()  # check_verify counted it as a wrong code in advance
        _remember("verify", time.monotonic() - started)
        return result
    if result.challenge is None:
        _pause_like("verify")
    elif result.reason == "error":
        raise CodeUnavailable("The code could not be checked now.")
    return result


def _timing_cache() -> Any:
    return caches[sepsms_settings.CACHE]


def _remember(step: str, seconds: float) -> None:
    """Keep a moving average of how long real requests take."""
    key = _TIMING_KEY.format(step)
    previous = _timing_cache().get(key)
    value = seconds if previous is None else 0.8 * float(previous) + 0.2 * seconds
    _timing_cache().set(key, min(value, 5.0), timeout=None)


def _pause_like(step: str) -> None:
    """Take about as long as a real ``step`` would, so timing reveals nothing."""
    typical = _timing_cache().get(_TIMING_KEY.format(step), _DEFAULT_TIMING[step])
    time.sleep(max(0.0, float(typical) * random.uniform(0.85, 1.15)))
