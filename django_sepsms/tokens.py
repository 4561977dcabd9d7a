"""Short-lived signed tokens of the JSON API (``django.core.signing``, no database).

Two kinds, each under its own salt so one can never pass for the other:

*Verification tokens* (:func:`make_verification_token`) say "this client has
just proved it receives SMS at this number, for this purpose". The API returns
one after a right code; a project hands it to its own sign-up, login or
"confirm my number" view, which reads it with :func:`read_verification_token`.
They live ``SEPSMS["API_TOKEN_MAX_AGE"]`` seconds (default 600) and are not
single-use by themselves: treat one as proof of the number for **one** sign-up
or login, right after the code was checked, and do not store it.

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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import authenticate, login
from django.core import signing
from django.http import HttpRequest

from .conf import sepsms_settings
from .exceptions import SepsmsError
from .flows import LOGIN
from .models import OtpChallenge

if TYPE_CHECKING:
    from .flows import CodeRequest

#: Salt of verification tokens.
VERIFICATION_SALT = "django_sepsms.verification"
#: Salt of flow tokens.
FLOW_SALT = "django_sepsms.flow"
#: Seconds a flow token outlives the code it was made for.
FLOW_TOKEN_GRACE = 60


class InvalidToken(SepsmsError):
    """A token is malformed, forged, expired, or for another purpose."""


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


def user_from_token(request: HttpRequest | None, token: str) -> Any:
    """The user a login verification token proves, without logging them in.

    Loads the verified login :class:`~django_sepsms.models.OtpChallenge` named
    by the token and asks :class:`~django_sepsms.auth.PhoneBackend` for its
    owner (or a new user when ``LOGIN_CREATE_USERS`` is on). Raises
    :class:`InvalidToken` when the token is bad or proves no usable account.
    The returned user has ``.backend`` set, ready for ``django.contrib.auth.login``.
    """
    verified = read_verification_token(token, purpose=LOGIN)
    challenge = OtpChallenge.objects.filter(
        pk=verified.challenge_id,
        phone=verified.phone,
        purpose=LOGIN,
        status=OtpChallenge.Status.VERIFIED,
    ).first()
    # Through django.contrib.auth, so the project's own PhoneBackend subclass
    # (and its create_user()) is the one used, and user.backend names it.
    user = authenticate(request, otp_challenge=challenge) if challenge else None
    if user is None:
        raise InvalidToken("The verification token proves no account that may log in.")
    return user


def login_user_from_token(request: HttpRequest, token: str) -> Any:
    """Log in (a Django session) the user a login verification token proves; return them.

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
