"""Authentication backend for phone login: ``django_sepsms.auth.PhoneBackend``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from .conf import sepsms_settings
from .models import OtpChallenge, PhoneNumber


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
            or otp_challenge.purpose != "login"
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
        """A new account for ``phone``, with no usable password. Override to customise."""
        model = get_user_model()
        fields: dict[str, Any] = {model.USERNAME_FIELD: phone}
        try:
            with transaction.atomic():
                user = model._default_manager.create_user(**fields)
                user.set_unusable_password()
                user.save()
                PhoneNumber.objects.create(user=user, phone=phone, verified_at=timezone.now())
        except IntegrityError:
            # Signed up a moment ago by another request, or the name is taken.
            number = PhoneNumber.objects.select_related("user").filter(phone=phone).first()
            return number.user if number else None
        return user

    def user_can_authenticate(self, user: Any) -> bool:
        return getattr(user, "is_active", True) is not False

    def get_user(self, user_id: Any) -> Any:
        model = get_user_model()
        try:
            user = model._default_manager.get(pk=user_id)
        except (model.DoesNotExist, ValueError):
            return None
        return user if self.user_can_authenticate(user) else None
