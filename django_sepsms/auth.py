"""Authentication backend for phone login: ``django_sepsms.auth.PhoneBackend``."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from .conf import sepsms_settings
from .models import OtpChallenge, PhoneNumber
from .otp.purposes import Purpose

#: How the accounts made by phone login are named: this and 16 random hex
#: digits. Never the number: a username shows wherever its account does.
USERNAME_PREFIX = "phone-"
_NAME_ATTEMPTS = 3


class PhoneBackend(BaseBackend):
    """Logs in the owner of a number whose login code was just verified.

    ``authenticate(request, otp_challenge=challenge)`` takes a *verified*
    :class:`~django_sepsms.models.OtpChallenge` of purpose ``"login"`` and
    returns the user who owns its number, or a new user when
    ``LOGIN_CREATE_USERS`` is on. Anything else returns ``None``.
    """

    def authenticate(
        self, request: HttpRequest | None, otp_challenge: OtpChallenge | None = None, **kwargs: Any
    ) -> Any:
        if otp_challenge is None:
            return None
        if (
            otp_challenge.status != OtpChallenge.Status.VERIFIED
            or otp_challenge.purpose != Purpose.LOGIN
            or otp_challenge.pk is None
        ):
            return None
        number = (
            PhoneNumber.objects.select_related("user").filter(phone=otp_challenge.phone).first()
        )
        if number is not None:
            user = number.user
        elif sepsms_settings.LOGIN_CREATE_USERS:
            user = self.create_user(otp_challenge.phone)
        else:
            return None
        return user if user is not None and self.user_can_authenticate(user) else None

    def create_user(self, phone: str) -> Any:
        """A new account for ``phone``, with no usable password. Override to customise.

        Its ``USERNAME_FIELD`` is :meth:`new_username`; the number is recorded
        as its verified, primary :class:`~django_sepsms.models.PhoneNumber`.
        """
        model = get_user_model()
        for _ in range(_NAME_ATTEMPTS):
            fields: dict[str, Any] = {model.USERNAME_FIELD: self.new_username(phone)}
            try:
                with transaction.atomic():
                    user = model._default_manager.create_user(**fields)
                    user.set_unusable_password()
                    user.save()
                    PhoneNumber.objects.create(user=user, phone=phone, verified_at=timezone.now())
            except IntegrityError:
                # Signed up a moment ago by another request, or the name is taken.
                number = PhoneNumber.objects.select_related("user").filter(phone=phone).first()
                if number is not None:
                    return number.user
                continue
            return user
        return None

    def new_username(self, phone: str) -> str:
        """The ``USERNAME_FIELD`` value of a new account: ``phone-`` and 16 random
        hex digits, or as many random digits as the field holds. It never
        depends on ``phone``; override to name accounts otherwise."""
        field = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD)
        room = getattr(field, "max_length", None)
        name = USERNAME_PREFIX + secrets.token_hex(8)
        if room is not None and len(name) > room:
            name = secrets.token_hex(room)[:room]
        return name

    def user_can_authenticate(self, user: Any) -> bool:
        return getattr(user, "is_active", True) is not False

    def get_user(self, user_id: Any) -> Any:
        model = get_user_model()
        try:
            user = model._default_manager.get(pk=user_id)
        except (model.DoesNotExist, ValueError):
            return None
        return user if self.user_can_authenticate(user) else None
