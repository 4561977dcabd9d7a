"""The two steps of every phone flow (web pages and API alike): ask for a code, check it.

Numbers nobody may use here (unknown at login when sign-up is off, or another
account's number) get a *decoy*: the same answers, limits and timing as a real
request, but no SMS and no challenge, so the code can never be right.

The rule that keeps registered numbers hidden, decided here and nowhere else:

1. What a code request answers depends only on the request (a valid number?)
   and on the limits, which count every number alike. It never depends on
   whether the number may get a code, nor on what the provider did with it: a
   send that failed, timed out or was refused is recorded on its challenge and
   logged, and the client gets the very answer a decoy gets (the code page, or
   ``200`` with a reference). The cooldown and the limits stay taken, as a
   decoy's do, so no second SMS follows at once.
2. A reference shown for a number that got no code (a decoy, or a send that
   failed before the provider gave one) is drawn like a real one in the
   current ``OTP_MODE``: :func:`~django_sepsms.otp.codes.make_decoy_reference`.
3. Every answer of both steps, real or decoy, waits until one target: the
   longer of ``OTP_MIN_ANSWER_TIME`` and the slowest of the recent real
   requests of that step (the last 50 of the last two minutes, failures
   included), plus up to a quarter of ``OTP_MIN_ANSWER_TIME`` at random. Both
   kinds end asleep at the same deadline, so their durations have one
   distribution; only a real request slower than all recent ones answers
   later, when its work is done.
4. A code check fails in one way whatever the reason, a provider error
   included (it counts as an attempt): a decoy's check could not fail otherwise.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from ..backends.base import BaseBackend
from ..backends.loading import get_backend
from ..conf import sepsms_settings
from ..exceptions import OtpRateLimited
from ..models import PhoneNumber
from ..phone import format_local, mask_phone, normalize_phone
from ..telemetry import hooks as telemetry
from . import limits
from .challenges import VerificationResult, attempt_otp, verify_otp
from .codes import code_ttl, make_decoy_reference
from .purposes import Purpose
from .replacing import replaceable
from .timing import answer_decoy, answer_real, samples_source

logger = logging.getLogger("django_sepsms")


@dataclass(frozen=True)
class CodeRequest:
    """A code was sent (or a decoy answered): what the second step needs.

    ``expires_at`` is a whole second, for a decoy as for a real code.
    """

    phone: str
    purpose: str
    reference: str
    expires_at: datetime
    resend_at: datetime

    @property
    def masked_phone(self) -> str:
        return format_local(self.phone, masked=True)


@dataclass(frozen=True)
class Eligibility:
    """The answer of :func:`may_receive`: truthy when a code may really go to the number.

    ``earlier_pending`` is False only when the lookup saw that no earlier code
    of the number and purpose is pending (nothing to replace).
    """

    allowed: bool
    earlier_pending: bool = True

    def __bool__(self) -> bool:
        return self.allowed


def may_receive(phone: str, purpose: str, user: Any = None) -> Eligibility:
    """Whether a code for ``purpose`` may really go to ``phone``.

    The query that finds the number's owner also looks for earlier codes.
    """
    if purpose not in (Purpose.LOGIN, Purpose.ADD_PHONE):
        return Eligibility(True)
    found = (
        PhoneNumber.objects.filter(phone=phone)
        .annotate(pending=Exists(replaceable(phone, purpose)))
        .values_list("user_id", "pending")
        .first()
    )
    owner_id, pending = found if found is not None else (None, True)
    if purpose == Purpose.LOGIN:
        allowed = owner_id is not None or sepsms_settings.LOGIN_CREATE_USERS
    else:
        allowed = owner_id is None or owner_id == getattr(user, "pk", None)
    return Eligibility(allowed, bool(pending))


@sensitive_variables()
def request_code(
    request: HttpRequest | None, raw_phone: str, purpose: str, *, user: Any = None
) -> CodeRequest:
    """Send a code for ``purpose`` to ``raw_phone``, within every limit.

    Raises ``ValidationError`` (bad number) or
    :class:`~django_sepsms.exceptions.OtpRateLimited`. Whatever the provider does,
    the answer is the one a decoy would get (see the module's docstring).
    """
    started = time.monotonic()
    phone = normalize_phone(raw_phone)
    # The recent answer times are read in the limits' round trip, for decoys alike.
    try:
        recent = limits.check_send(phone, limits.client_ip(request), read=samples_source("send"))
    except OtpRateLimited as exc:
        telemetry.otp_locked(exc.limit, "send")
        raise
    now = timezone.now()
    backend = get_backend()
    expires_at = _whole_second(now + timedelta(seconds=code_ttl(backend)))
    resend_at = now + timedelta(seconds=sepsms_settings.OTP_RESEND_COOLDOWN)
    eligibility = may_receive(phone, purpose, user)
    if eligibility:
        reference = _send(request, phone, purpose, user, backend, eligibility.earlier_pending)
        answer_real("send", started, recent)
    else:
        reference = make_decoy_reference(backend)
        telemetry.otp_requested(purpose, "", "decoy")
        # DEBUG, for development only: by design, nothing tells this number
        # apart in production logs. Logged before the answer's padding, which
        # absorbs its cost.
        logger.debug(
            "Code request for %s (%s) answered without an SMS, by design",
            mask_phone(phone),
            purpose,
        )
        answer_decoy("send", started, recent)
    return CodeRequest(phone, purpose, reference, expires_at, resend_at)


def _send(
    request: HttpRequest | None,
    phone: str,
    purpose: str,
    user: Any,
    backend: BaseBackend,
    replace_earlier: bool,
) -> str:
    """Send a real code; the reference to show, whatever happened to it."""
    try:
        challenge, error = attempt_otp(
            phone,
            purpose=purpose,
            user=user,
            request=request,
            backend=backend,
            replace_earlier=replace_earlier,
        )
    except ValidationError as exc:  # OTP_TEMPLATE without {code}: check sepsms.E008
        logger.error("OTP to %s not sent: %s", mask_phone(phone), exc.messages[0])
        return make_decoy_reference(backend)
    if error is not None:
        level = logging.ERROR if error.configuration_problem else logging.WARNING
        logger.log(
            level,
            "Code request for %s (%s) answered as usual, but the code was %s (%s)",
            mask_phone(phone),
            purpose,
            challenge.status,
            challenge.error_code,
        )
    # A provider-made code that failed has no reference of its own.
    return challenge.reference or make_decoy_reference(backend)


@sensitive_variables()
def check_code(
    request: HttpRequest | None, *, phone: str, purpose: str, reference: str, pin: str
) -> VerificationResult:
    """Check ``pin`` for the flow's own ``reference``, number and purpose.

    Raises :class:`~django_sepsms.exceptions.OtpRateLimited` when the number or
    client is locked out (nothing is checked then). Any other failure, a
    provider error included, is a result that is not verified.
    """
    started = time.monotonic()
    ip = limits.client_ip(request)
    try:
        attempt = limits.check_verify(phone, ip, read=samples_source("verify"))
    except OtpRateLimited as exc:
        telemetry.otp_locked(exc.limit, "verify")
        raise
    result = verify_otp(reference, pin, phone=phone, purpose=purpose, request=request)
    if result.verified and result.challenge is not None:
        # check_verify counted it as a wrong code in advance; the pumping guard counts it.
        attempt.forgive(result.challenge.phone)
    if result.challenge is None:
        answer_decoy("verify", started, attempt.recent)
    else:
        answer_real("verify", started, attempt.recent)
    return result


def _whole_second(moment: datetime) -> datetime:
    """``moment`` cut to a whole second: no finer clock reading than a decoy's is shown."""
    return datetime.fromtimestamp(math.floor(moment.timestamp()), tz=moment.tzinfo)
