"""django-allauth's phone login and verification, sent through this app.

:class:`SepsmsPhoneAdapterMixin` goes before allauth's ``DefaultAccountAdapter``
in a project's account adapter::

    class AccountAdapter(SepsmsPhoneAdapterMixin, DefaultAccountAdapter):
        pass

allauth keeps its pages, its flows and the code it compares; the mixin makes
each code (``OTP_CODE_LENGTH`` digits), sends it through
:mod:`django_sepsms.otp.relay` (this app's limits, timing and delivery log,
the code masked in it), sends nothing to numbers that may not get one, and
keeps each account's verified number in :class:`~django_sepsms.models.PhoneNumber`,
where ``PhoneBackend``, the phone pages and the admin find it too.

This module imports nothing of allauth until a method runs: it can be imported
(and documented) in a project without allauth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Warning
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables

from ..exceptions import OtpRateLimited
from ..models import PhoneNumber
from ..otp.relay import make_relayed_code, relay_code, relay_decoy
from ..phone import normalize_phone

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

#: Where a number given at sign-up waits, per user, until its code is entered.
PENDING_SESSION_KEY = "sepsms_allauth_pending_phone"
#: The purposes the relayed codes are logged under.
PURPOSE_LOGIN = "allauth-login"
PURPOSE_VERIFY = "allauth-verify"


def as_e164(phone: str) -> str:
    """A stored number (``66xxxxxxxxx``) in the form allauth shows and compares."""
    return "+" + phone


class SepsmsPhoneAdapterMixin:
    """allauth's phone hooks on django-sepsms: its SMS, its limits, its phone numbers.

    - ``generate_phone_verification_code``: ``OTP_CODE_LENGTH`` random digits.
    - ``send_verification_code_sms``: the code in ``OTP_TEMPLATE`` through the
      configured backend, within every send limit; a limit passed answers 429.
      A number another account owns is sent nothing (allauth's change-number
      page would send it a code).
    - ``send_unknown_account_sms``, ``send_account_already_exists_sms``: no
      SMS, the same limits and answer time (nothing tells the numbers apart).
    - ``phone_form_field``, ``clean_phone``: any form ``normalize_phone``
      accepts (``081-234-5678``, ``+66 81 234 5678``), kept as ``+66…``.
    - ``get_phone``, ``set_phone``, ``set_phone_verified``,
      ``get_user_by_phone``: the account's number in ``PhoneNumber``. A number
      not yet verified is kept in the session, never in ``PhoneNumber``, so it
      can neither log in nor hold a number someone else owns.

    allauth knows one number per account: verifying a new one replaces the
    account's numbers.
    """

    request: HttpRequest | None

    # -- the codes -------------------------------------------------------

    def generate_phone_verification_code(
        self, *, user: AbstractBaseUser | None = None, phone: str | None = None
    ) -> str:
        # Keyword arguments since allauth 65.13; earlier releases pass none.
        return make_relayed_code()

    @sensitive_variables("code")
    def send_verification_code_sms(
        self, user: AbstractBaseUser, phone: str, code: str, **kwargs: Any
    ) -> None:
        request = self._current_request()
        purpose = PURPOSE_VERIFY if _in_verification(kwargs) else PURPOSE_LOGIN
        try:
            relay_code(request, phone, code, purpose=purpose, user=user)
        except OtpRateLimited as exc:
            self._respond_rate_limited(request, exc)

    def send_unknown_account_sms(self, phone: str, **kwargs: Any) -> None:
        self._decoy(phone)

    def send_account_already_exists_sms(self, phone: str) -> None:
        self._decoy(phone)

    def _decoy(self, phone: str) -> None:
        request = self._current_request()
        try:
            relay_decoy(request, phone, purpose=PURPOSE_LOGIN)
        except OtpRateLimited as exc:
            self._respond_rate_limited(request, exc)

    # -- the numbers -----------------------------------------------------

    def phone_form_field(self, **kwargs: Any) -> Any:
        from allauth.account.fields import PhoneField

        # normalize_phone, in clean_phone, is the validator: 081-234-5678 passes too.
        kwargs.setdefault("validators", [])
        return PhoneField(**kwargs)

    def clean_phone(self, phone: str) -> str:
        return as_e164(normalize_phone(phone))

    def get_phone(self, user: AbstractBaseUser) -> tuple[str, bool] | None:
        verified = (
            PhoneNumber.objects.filter(user_id=user.pk)
            .order_by("-is_primary", "-verified_at", "-id")
            .values_list("phone", flat=True)
            .first()
            if user.pk is not None
            else None
        )
        if verified is not None:
            return as_e164(verified), True
        pending = self._pending(user)
        return (as_e164(pending), False) if pending else None

    def set_phone(self, user: AbstractBaseUser, phone: str, verified: bool) -> None:
        if verified:
            self.set_phone_verified(user, phone)
            return
        normalized = normalize_phone(phone)
        user._sepsms_pending_phone = normalized  # type: ignore[attr-defined]
        session = getattr(self._current_request(), "session", None)
        if session is not None and user.pk is not None:
            session[PENDING_SESSION_KEY] = {
                **session.get(PENDING_SESSION_KEY, {}),
                str(user.pk): normalized,
            }

    def set_phone_verified(self, user: AbstractBaseUser, phone: str) -> None:
        normalized = normalize_phone(phone)
        with transaction.atomic():
            PhoneNumber.objects.filter(user_id=user.pk).exclude(phone=normalized).delete()
            PhoneNumber.objects.update_or_create(
                phone=normalized,
                user_id=user.pk,
                defaults={"is_primary": True, "verified_at": timezone.now()},
            )
        self._forget_pending(user)

    def get_user_by_phone(self, phone: str) -> AbstractBaseUser | None:
        try:
            normalized = normalize_phone(phone)
        except ValidationError:
            return None
        found = PhoneNumber.objects.select_related("user").filter(phone=normalized).first()
        return found.user if found is not None else None

    # -- helpers ---------------------------------------------------------

    def _current_request(self) -> HttpRequest | None:
        """The adapter's request, or the one allauth's middleware is serving."""
        if getattr(self, "request", None) is not None:
            return self.request
        from allauth.core import context

        return getattr(context, "request", None)

    def _pending(self, user: AbstractBaseUser) -> str | None:
        pending = getattr(user, "_sepsms_pending_phone", None)
        if pending:
            return str(pending)
        session = getattr(self._current_request(), "session", None)
        if session is None or user.pk is None:
            return None
        found = session.get(PENDING_SESSION_KEY, {}).get(str(user.pk))
        return str(found) if found else None

    def _forget_pending(self, user: AbstractBaseUser) -> None:
        if hasattr(user, "_sepsms_pending_phone"):
            del user._sepsms_pending_phone
        session = getattr(self._current_request(), "session", None)
        if session is not None and PENDING_SESSION_KEY in session:
            pending = dict(session[PENDING_SESSION_KEY])
            pending.pop(str(user.pk), None)
            session[PENDING_SESSION_KEY] = pending

    def _respond_rate_limited(self, request: HttpRequest | None, exc: OtpRateLimited) -> None:
        """Stop the flow with allauth's own 429 answer (nothing was sent); outside a
        request, raise ``exc``."""
        from allauth.core.exceptions import ImmediateHttpResponse
        from allauth.core.ratelimit import respond_429

        if request is None:
            raise exc
        raise ImmediateHttpResponse(respond_429(request)) from exc


def _in_verification(kwargs: dict[str, Any]) -> bool:
    """allauth passes ``reauthentication`` only for login codes."""
    return "reauthentication" not in kwargs


#: allauth's settings that make it send again without asking the adapter about
#: numbers that get no code, so that its answers tell them apart.
_RESEND_SETTINGS = (
    ("LOGIN_BY_CODE_MAX_RESEND_COUNT", "ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND"),
    ("PHONE_VERIFICATION_MAX_RESEND_COUNT", "ACCOUNT_PHONE_VERIFICATION_SUPPORTS_RESEND"),
)


def check_allauth_settings() -> list[CheckMessage]:
    """``sepsms.W009`` and ``sepsms.W010``, when allauth's adapter uses the mixin."""
    if not apps.is_installed("allauth.account"):
        return []
    from allauth.account import app_settings

    try:
        adapter = import_string(app_settings.ADAPTER)
    except ImportError:
        return []
    if not (isinstance(adapter, type) and issubclass(adapter, SepsmsPhoneAdapterMixin)):
        return []
    messages: list[CheckMessage] = []
    telling = [name for attr, name in _RESEND_SETTINGS if getattr(app_settings, attr, 0)]
    if not app_settings.PREVENT_ENUMERATION:
        telling.append("ACCOUNT_PREVENT_ENUMERATION = False")
    if telling:
        messages.append(
            Warning(
                f"allauth's {', '.join(telling)} let its phone pages tell registered "
                "numbers from others.",
                hint="Leave allauth's resend options off and ACCOUNT_PREVENT_ENUMERATION "
                "on: a new code is then asked for on the first page, which takes the "
                "same limits for every number.",
                id="sepsms.W009",
            )
        )
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.signed_cookies":
        messages.append(
            Warning(
                "allauth keeps each code in the session, and signed-cookie sessions "
                "hand it to the browser.",
                hint="Use a session engine that keeps sessions on the server "
                "(database, cache or cached_db).",
                id="sepsms.W010",
            )
        )
    return messages
