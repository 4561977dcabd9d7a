"""Request and response bodies of the JSON API.

The response serializers document the shapes (OpenAPI) and format the
successful answers; every refusal is ``{"code": ..., "detail": ...}`` with a
stable machine-readable ``code``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..flows import ADD_PHONE, LOGIN
from ..phone import normalize_phone

#: Purposes a client may ask a code for.
VERIFY = "verify"
PURPOSES: tuple[str, ...] = (VERIFY, LOGIN, ADD_PHONE)

_MAX_TOKEN_LENGTH = 4096


class OtpRequestSerializer(serializers.Serializer):
    """``POST api/otp/``: the number and, optionally, the purpose (default ``"verify"``)."""

    phone = serializers.CharField(max_length=32, help_text=_("A Thai mobile number."))
    purpose = serializers.CharField(
        required=False,
        default=VERIFY,
        max_length=32,
        help_text=_("“verify” (default), “login” or “phone” (signed-in users only)."),
    )

    def validate_phone(self, value: str) -> str:
        """The number, normalised to ``66xxxxxxxxx``."""
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0], code="invalid_phone") from exc

    def validate_purpose(self, value: str) -> str:
        """One of :data:`PURPOSES`."""
        if value not in PURPOSES:
            raise serializers.ValidationError(
                _("Unknown purpose: use “verify”, “login” or “phone”."), code="invalid_purpose"
            )
        return value


class OtpVerifySerializer(serializers.Serializer):
    """``POST api/otp/verify/``: the reference, the code and (recommended) the flow token."""

    reference = serializers.CharField(max_length=32)
    pin = serializers.CharField(max_length=16, help_text=_("The code from the SMS."))
    flow_token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=_MAX_TOKEN_LENGTH,
        help_text=_("The flow_token of the code request: binds the check to that request."),
    )


class TokenLoginSerializer(serializers.Serializer):
    """Body of :class:`~django_sepsms.api.views.PhoneTokenLoginView`."""

    token = serializers.CharField(max_length=_MAX_TOKEN_LENGTH)


class OtpSentSerializer(serializers.Serializer):
    """Answer to a code request (the same for every number, sent or not)."""

    reference = serializers.CharField()
    expires_at = serializers.DateTimeField()
    resend_after = serializers.IntegerField(help_text=_("Seconds until a new code may be asked."))
    flow_token = serializers.CharField()


class OtpVerifiedSerializer(serializers.Serializer):
    """Answer to a right code: a short-lived verification token and the masked number."""

    verified = serializers.BooleanField()
    token = serializers.CharField()
    phone = serializers.CharField(help_text=_("The number, masked: 66*******78."))


class SepsmsErrorSerializer(serializers.Serializer):
    """A refusal: a stable ``code`` and a human-readable ``detail``."""

    code = serializers.CharField()
    detail = serializers.CharField()


class SepsmsRateLimitedSerializer(SepsmsErrorSerializer):
    """Over a limit (429): also ``retry_after`` seconds, as in the ``Retry-After`` header."""

    retry_after = serializers.IntegerField()


class SepsmsVerifyFailedSerializer(SepsmsErrorSerializer):
    """A code that does not verify, whatever the reason (``code`` is ``invalid_code``)."""

    verified = serializers.BooleanField()


class PhoneLoginSerializer(serializers.Serializer):
    """Answer of :class:`~django_sepsms.api.views.PhoneTokenLoginView`."""

    user_id = serializers.CharField()
