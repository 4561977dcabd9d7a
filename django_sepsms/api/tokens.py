"""Short-lived signed tokens of the JSON API (``django.core.signing``, no database).

Two kinds, each under its own salt so one can never pass for the other:

*Verification tokens* (:func:`make_verification_token`) say "this client has
just proved it receives SMS at this number, for this purpose". The API returns
one after a right code; a project hands it to its own sign-up, login or
"confirm my number" view, which reads it with :func:`read_verification_token`.
They live ``SEPSMS["API_TOKEN_MAX_AGE"]`` seconds (default 600).

A login with one is single-use: :func:`user_from_token` and
:func:`login_user_from_token` (so :class:`~django_sepsms.api.views.PhoneTokenLoginView`)
first mark the token's challenge as used, with one ``UPDATE ... WHERE
token_used_at IS NULL`` in the database, so across every process and thread
exactly one presentation wins; any later one is refused with
:class:`InvalidToken` and logged (the number masked). A project's own view can
do the same with :func:`redeem_verification_token`. :func:`read_verification_token`
only reads a token: what it proves can be read again.

Both kinds are signed with ``SECRET_KEY``, not encrypted: their holder can read
the number and purpose in them (the number is the holder's own).

*Flow tokens* (:func:`make_flow_token`) are given out with each code request and
sent back with the code, so a reference verifies only for the client that asked
for it, and only for its number and purpose.

A mobile app logs in by phone in three calls: ``POST api/otp/`` with
``{"phone": ..., "purpose": "login"}``, ``POST api/otp/verify/`` with the
reference, the code and the flow token, then a view of the project that calls
:func:`login_user_from_token` (a session) or :func:`user_from_token` (to issue an
API token of its own); :class:`django_sepsms.api.views.PhoneTokenLoginView` is a
ready-made one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import authenticate, login
from django.core import signing
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from ..conf import sepsms_settings
from ..exceptions import InvalidToken
from ..models import OtpChallenge
from ..otp.purposes import Purpose
from ..phone import mask_phone

if TYPE_CHECKING:
    from ..otp.flows import CodeRequest

#: Salt of verification tokens.
VERIFICATION_SALT = "django_sepsms.verification"
#: Salt of flow tokens.
FLOW_SALT = "django_sepsms.flow"
#: Seconds a flow token outlives the code it was made for.
FLOW_TOKEN_GRACE = 60

logger = logging.getLogger("django_sepsms")


@dataclass(frozen=True)
class VerifiedPhone:
    """What a valid verification token proves.

    :ivar phone: the number, normalised (``66xxxxxxxxx``).
    :ivar purpose: the purpose the code was sent for (``"verify"``, ``"login"``, ``"phone"``).
    :ivar challenge_id: primary key of the verified :class:`~django_sepsms.models.OtpChallenge`.
    :ivar user_id: the user who asked for the code (as a string), or ``None``.
    """

    phone: str
    purpose: str
    challenge_id: int
    user_id: str | None = None


@dataclass(frozen=True)
class FlowState:
    """What a valid flow token says: which number, purpose and reference a client asked for."""

    phone: str
    purpose: str
    reference: str


def make_verification_token(challenge: OtpChallenge) -> str:
    """A signed token saying ``challenge``'s number was verified for its purpose.

    ``challenge`` must be verified; anything else raises ``ValueError``.
    """
    if challenge.pk is None or challenge.status != OtpChallenge.Status.VERIFIED:
        raise ValueError("Only a verified challenge proves a number.")
    user_id = challenge.user_id
    payload = {
        "phone": challenge.phone,
        "purpose": challenge.purpose,
        "challenge": challenge.pk,
        "user": None if user_id is None else str(user_id),
    }
    return signing.dumps(payload, salt=VERIFICATION_SALT, compress=True)


def read_verification_token(
    token: str, *, purpose: str | None = None, max_age: int | None = None
) -> VerifiedPhone:
    """Check ``token`` and return what it proves.

    Raises :class:`InvalidToken` when it is malformed, forged, older than
    ``max_age`` seconds (default ``SEPSMS["API_TOKEN_MAX_AGE"]``) or, when
    ``purpose`` is given, made for another purpose.
    """
    age = sepsms_settings.API_TOKEN_MAX_AGE if max_age is None else max_age
    payload = _load(token, VERIFICATION_SALT, age)
    phone, token_purpose = payload.get("phone"), payload.get("purpose")
    challenge_id, user_id = payload.get("challenge"), payload.get("user")
    if not (
        isinstance(phone, str)
        and isinstance(token_purpose, str)
        and isinstance(challenge_id, int)
        and (user_id is None or isinstance(user_id, str))
    ):
        raise InvalidToken("The verification token is malformed.")
    if purpose is not None and token_purpose != purpose:
        raise InvalidToken("The verification token is for another purpose.")
    return VerifiedPhone(phone, token_purpose, challenge_id, user_id)


@sensitive_variables("token")
def redeem_verification_token(
    token: str, *, purpose: str | None = None, max_age: int | None = None
) -> VerifiedPhone:
    """Check ``token`` like :func:`read_verification_token`, and use it up.

    The token's verified challenge is marked used in the same statement that
    checks it was not (atomic in the database, whatever the number of
    processes). Raises :class:`InvalidToken` for a bad token, and for one
    presented again: that replay is logged with the number masked.
    """
    verified = read_verification_token(token, purpose=purpose, max_age=max_age)
    challenge = OtpChallenge.objects.filter(
        pk=verified.challenge_id,
        phone=verified.phone,
        purpose=verified.purpose,
        status=OtpChallenge.Status.VERIFIED,
    )
    if challenge.filter(token_used_at__isnull=True).update(token_used_at=timezone.now()) != 1:
        if challenge.exists():
            logger.warning(
                "A verification token was presented again for %s (challenge %s): refused",
                mask_phone(verified.phone),
                verified.challenge_id,
            )
        raise InvalidToken("The verification token has already been used.")
    return verified


def make_flow_token(code_request: CodeRequest) -> str:
    """A signed token binding a code request's reference to its number and purpose."""
    payload = {
        "phone": code_request.phone,
        "purpose": code_request.purpose,
        "reference": code_request.reference,
    }
    return signing.dumps(payload, salt=FLOW_SALT, compress=True)


def read_flow_token(token: str) -> FlowState:
    """Check a flow token (valid ``OTP_TTL`` + 60 seconds); raise :class:`InvalidToken` if bad."""
    payload = _load(token, FLOW_SALT, sepsms_settings.OTP_TTL + FLOW_TOKEN_GRACE)
    phone, purpose, reference = (payload.get(k) for k in ("phone", "purpose", "reference"))
    if not (isinstance(phone, str) and isinstance(purpose, str) and isinstance(reference, str)):
        raise InvalidToken("The flow token is malformed.")
    return FlowState(phone, purpose, reference)


@sensitive_variables("token")
def user_from_token(request: HttpRequest | None, token: str) -> Any:
    """The user a login verification token proves, without logging them in.

    Uses the token up (:func:`redeem_verification_token`: it works once),
    loads the verified login :class:`~django_sepsms.models.OtpChallenge` it
    names and asks :class:`~django_sepsms.auth.PhoneBackend` for its owner (or
    a new user when ``LOGIN_CREATE_USERS`` is on). Raises :class:`InvalidToken`
    when the token is bad, used before, or proves no usable account. The
    returned user has ``.backend`` set, ready for ``django.contrib.auth.login``.
    """
    verified = redeem_verification_token(token, purpose=Purpose.LOGIN)
    challenge = OtpChallenge.objects.filter(
        pk=verified.challenge_id,
        phone=verified.phone,
        purpose=Purpose.LOGIN,
        status=OtpChallenge.Status.VERIFIED,
    ).first()
    # Through django.contrib.auth, so the project's own PhoneBackend subclass
    # (and its create_user()) is the one used, and user.backend names it.
    user = authenticate(request, otp_challenge=challenge) if challenge else None
    if user is None:
        raise InvalidToken("The verification token proves no account that may log in.")
    return user


@sensitive_variables("token")
def login_user_from_token(request: HttpRequest, token: str) -> Any:
    """Log in (a Django session) the user a login verification token proves; return them.

    The token works once, as with :func:`user_from_token`.

    ``django.contrib.auth.login`` rotates the session key. Add
    ``django_sepsms.auth.PhoneBackend`` to ``AUTHENTICATION_BACKENDS`` so the
    session stays valid. Raises :class:`InvalidToken` like :func:`user_from_token`.
    """
    user = user_from_token(request, token)
    login(request, user)
    return user


def _load(token: str, salt: str, max_age: int) -> dict[str, Any]:
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise InvalidToken("The token is missing or malformed.")
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise InvalidToken("The token has expired.") from exc
    except (signing.BadSignature, ValueError) as exc:
        raise InvalidToken("The token is not valid.") from exc
    if not isinstance(payload, dict):
        raise InvalidToken("The token is malformed.")
    return payload
