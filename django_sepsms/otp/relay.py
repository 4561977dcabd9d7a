"""Codes another app makes and checks (django-allauth's), sent through this app.

The other app keeps the code and compares what the user types; this module
only carries the code to the phone, as :mod:`.flows` carries its own:

- every request takes the send limits of :func:`.limits.check_send` (the
  client's network, the number's cooldown and caps, the whole site), whether
  a code goes out or not (not the pumping guard's, :mod:`.pumping`: the
  other app checks the codes, so the guard would never see one verified);
- the delivery log records the message as an OTP whose code is masked
  (``Message.kind`` ``otp``); only the SMS on the wire holds the code;
- a number that gets no code (:func:`relay_decoy`, or :func:`relay_code` for
  a number another account owns) sends nothing, yet takes the same limits and
  ends at the same deadline (:mod:`.timing`) as a real one;
- a send the provider refused or lost is logged (number masked) and answered
  like any other, so no answer tells a registered number from another.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from .. import contract
from ..backends.loading import get_backend
from ..conf import sepsms_settings
from ..exceptions import SepsmsError, error_code_of
from ..models import Message, PhoneNumber
from ..phone import mask_phone, normalize_phone
from ..sending import PreparedMessage, deliver_message, record_message, resolve_origin
from . import limits
from .codes import make_code, make_reference, render_otp_text
from .timing import answer_decoy, answer_real, samples_source

logger = logging.getLogger("django_sepsms")

#: The timing step relayed codes share with the app's own code requests.
_STEP = "send"


def make_relayed_code() -> str:
    """A code for another app to keep: ``OTP_CODE_LENGTH`` random digits."""
    return make_code(sepsms_settings.otp_code_length)


@sensitive_variables()
def relay_code(
    request: HttpRequest | None, raw_phone: str, code: str, *, purpose: str, user: Any
) -> None:
    """Send ``code``, made and checked elsewhere for ``user``, to ``raw_phone``
    in ``OTP_TEMPLATE``.

    Raises ``ValidationError`` (bad number) or
    :class:`~django_sepsms.exceptions.OtpRateLimited` (nothing sent then).
    Nothing is sent to a number another account owns, and a failed send is
    logged, not raised (see the module's docstring).
    """
    started = time.monotonic()
    phone = normalize_phone(raw_phone)
    recent = limits.check_send(
        phone, limits.client_ip(request), read=samples_source(_STEP), guarded=False
    )
    owner = PhoneNumber.objects.filter(phone=phone).values_list("user_id", flat=True).first()
    if owner is not None and owner != getattr(user, "pk", None):
        # DEBUG, as for the app's own decoys: no production log tells this number apart.
        logger.debug("Code for %s (%s) not sent: another account's", mask_phone(phone), purpose)
        answer_decoy(_STEP, started, recent)
        return
    try:
        _send(phone, code)
    except SepsmsError as exc:
        logger.warning(
            "Code for %s (%s) answered as usual, but not sent: %s",
            mask_phone(phone),
            purpose,
            error_code_of(exc),
        )
    except ValidationError as exc:  # OTP_TEMPLATE without {code}: check sepsms.E008
        logger.error("Code for %s (%s) not sent: %s", mask_phone(phone), purpose, exc.messages[0])
    answer_real(_STEP, started, recent)


def relay_decoy(request: HttpRequest | None, raw_phone: str, *, purpose: str) -> None:
    """Take the limits and the time of :func:`relay_code`, and send nothing.

    For a number that may not get a code (unknown at login, another account's).
    """
    started = time.monotonic()
    phone = normalize_phone(raw_phone)
    recent = limits.check_send(
        phone, limits.client_ip(request), read=samples_source(_STEP), guarded=False
    )
    logger.debug("Code request for %s (%s) answered without an SMS", mask_phone(phone), purpose)
    answer_decoy(_STEP, started, recent)


@sensitive_variables()  # the frame holds the code's text
def _send(phone: str, code: str) -> None:
    template = sepsms_settings.OTP_TEMPLATE
    if contract.OTP_CODE_PLACEHOLDER not in template:
        raise ValidationError('OTP_TEMPLATE must contain "{code}".', code="invalid_template")
    reference = make_reference()
    redacted = render_otp_text(template, "*" * len(code), reference)
    prepared = PreparedMessage(
        redacted, [phone], resolve_origin(None), None, None, Message.Kind.OTP
    )
    # Claimed as it is recorded: a code goes out now or never, not resumed later.
    msg = record_message(prepared, claimed=True)
    deliver_message(
        msg,
        backend=get_backend(),
        text=render_otp_text(template, code, reference),
        recorded=prepared,
    )
