"""Request and response bodies of the JSON API.

The request serializers are the whole of what the views accept, and the
OpenAPI schema is made from them: lengths, patterns and the enum of purposes
in the schema are the ones enforced here. Every string field takes a JSON
string only (DRF's ``CharField`` would also take ``123`` or ``true``).

The response serializers document the shapes (OpenAPI) and format the
successful answers; every refusal is ``{"code": ..., "detail": ...}`` with a
stable machine-readable ``code``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..otp.purposes import Purpose
from ..phone import normalize_phone
from .schema import constant_field

#: Purposes a client may ask a code for.
PURPOSES: tuple[str, ...] = tuple(Purpose.values)

_MAX_TOKEN_LENGTH = 4096
_MAX_PHONE_LENGTH = 32
_MAX_REFERENCE_LENGTH = 32
_MAX_PIN_LENGTH = 16

#: What a number may be made of: digits (any script's), one leading ``+``, spaces, ``-().``.
#: Written so that no input makes it backtrack: only one part may take a run of separators.
PHONE_PATTERN = r"^(?:[\s().-]*\+)?[\d\s().-]+$"

INVALID_PHONE = _("“%(value)s” is not a valid mobile phone number.")
UNKNOWN_PURPOSE = _("Unknown purpose: use “verify”, “login” or “phone”.")


class Secret(str):
    """A string whose ``repr`` hides it: a pin or a token, shown as stars in tracebacks
    (Django's error pages, debuggers, logs of locals). It is used as the plain string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


class StrictCharField(serializers.CharField):
    """A ``CharField`` that takes a JSON string only, never a number, boolean or list."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value: str = super().to_internal_value(data)
        return value


class SecretCharField(StrictCharField):
    """A :class:`StrictCharField` whose value is a :class:`Secret`."""

    def to_internal_value(self, data: Any) -> str:
        return Secret(super().to_internal_value(data))


class PurposeField(serializers.ChoiceField):
    """One of :data:`PURPOSES`, given as a string."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=type(data).__name__)
        return super().to_internal_value(data)


class _QuietSerializer(serializers.Serializer):
    """A request serializer whose ``repr`` leaves out the body (it may hold a pin or token)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class OtpRequestSerializer(_QuietSerializer):
    """``POST api/otp/``: the number and, optionally, the purpose (default ``"verify"``)."""

    phone = StrictCharField(
        min_length=1,
        max_length=_MAX_PHONE_LENGTH,
        validators=[RegexValidator(PHONE_PATTERN, INVALID_PHONE, code="invalid_phone")],
        help_text=_("A Thai mobile number."),
    )
    purpose = PurposeField(
        choices=[(purpose, purpose) for purpose in PURPOSES],
        required=False,
        default=Purpose.VERIFY,
        error_messages={"invalid_choice": UNKNOWN_PURPOSE},
        help_text=_("“verify” (default), “login” or “phone” (signed-in users only)."),
    )

    def validate_phone(self, value: str) -> str:
        """The number, normalised to ``66xxxxxxxxx``."""
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0], code="invalid_phone") from exc


class OtpVerifySerializer(_QuietSerializer):
    """``POST api/otp/verify/``: the reference, the code and (recommended) the flow token."""

    reference = StrictCharField(min_length=1, max_length=_MAX_REFERENCE_LENGTH)
    pin = SecretCharField(
        min_length=1, max_length=_MAX_PIN_LENGTH, help_text=_("The code from the SMS.")
    )
    flow_token = SecretCharField(
        required=False,
        allow_blank=True,
        max_length=_MAX_TOKEN_LENGTH,
        help_text=_("The flow_token of the code request: binds the check to that request."),
    )


class TokenLoginSerializer(_QuietSerializer):
    """Body of :class:`~django_sepsms.api.views.PhoneTokenLoginView`."""

    token = SecretCharField(min_length=1, max_length=_MAX_TOKEN_LENGTH)


class OtpSentSerializer(serializers.Serializer):
    """Answer to a code request (the same for every number, sent or not)."""

    reference = serializers.CharField()
    expires_at = serializers.DateTimeField()
    resend_after = serializers.IntegerField(help_text=_("Seconds until a new code may be asked."))
    flow_token = serializers.CharField()


class OtpVerifiedSerializer(serializers.Serializer):
    """Answer to a right code: a short-lived verification token and the masked number."""

    verified = constant_field(serializers.BooleanField, [True], "boolean")
    token = serializers.CharField()
    phone = serializers.CharField(help_text=_("The number, masked: 66*******78."))


class SepsmsErrorSerializer(serializers.Serializer):
    """A refusal: a stable ``code`` and a human-readable ``detail``."""

    # Subclasses narrow ``code`` to their constant (a field made by constant_field()).
    code: serializers.Field[Any, Any, Any, Any] = serializers.CharField()
    detail = serializers.CharField()


class SepsmsRateLimitedSerializer(SepsmsErrorSerializer):
    """Over a limit (429): also ``retry_after`` seconds, as in the ``Retry-After`` header."""

    code = constant_field(serializers.CharField, ["rate_limited"], "string")
    retry_after = serializers.IntegerField(min_value=1)


class SepsmsVerifyFailedSerializer(SepsmsErrorSerializer):
    """A code that does not verify, whatever the reason (``code`` is ``invalid_code``)."""

    code = constant_field(serializers.CharField, ["invalid_code"], "string")
    verified = constant_field(serializers.BooleanField, [False], "boolean")


class SepsmsInvalidFieldSerializer(SepsmsErrorSerializer):
    """400 for a number or purpose that is not valid; ``detail`` is the field's message."""

    code = constant_field(serializers.CharField, ["invalid_phone", "invalid_purpose"], "string")


class SepsmsInvalidRequestSerializer(SepsmsErrorSerializer):
    """400 for a body that does not validate; ``errors`` lists the messages of each field."""

    code = constant_field(serializers.CharField, ["invalid_request"], "string")
    # A declared field leaves the class (DRF's metaclass collects it), so it does not
    # replace Serializer.errors at run time; the stubs cannot know that.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField())
    )


class SepsmsParseErrorSerializer(SepsmsErrorSerializer):
    """400 for a body that is not JSON the API reads (see :mod:`django_sepsms.api.parsers`)."""

    code = constant_field(serializers.CharField, ["parse_error"], "string")


class SepsmsInvalidTokenSerializer(SepsmsErrorSerializer):
    """400 for a verification token that is bad, expired or proves no account."""

    code = constant_field(serializers.CharField, ["invalid_token"], "string")


class PhoneLoginSerializer(serializers.Serializer):
    """Answer of :class:`~django_sepsms.api.views.PhoneTokenLoginView`."""

    user_id = serializers.CharField()
