"""Phone numbers: parse what people type, keep one canonical form.

Every number the app stores or sends is ``66xxxxxxxxx`` (country code, no plus),
the form the provider's examples use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import contract
from .conf import sepsms_settings

_SEPARATORS = re.compile(r"[\s\-().]")
_ACCEPTED_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}
_MAX_INPUT_LENGTH = 32


def normalize_phone(value: object) -> str:
    """Return ``value`` as ``66xxxxxxxxx`` or raise :class:`ValidationError`.

    Accepts ``0812345678``, ``66812345678``, ``+66 81-234-5678`` and the like.
    Only mobile numbers of the allowed regions and prefixes pass
    (``SEPSMS["PHONE_REGION"]`` and ``SEPSMS["PHONE_ALLOWED_PREFIXES"]``).
    """
    raw = str(value if value is not None else "").strip()
    invalid = ValidationError(
        _("“%(value)s” is not a valid mobile phone number."),
        code="invalid_phone",
        params={"value": raw[:_MAX_INPUT_LENGTH]},
    )
    compact = _SEPARATORS.sub("", raw)
    if not compact or len(compact) > _MAX_INPUT_LENGTH:
        raise invalid
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif compact.isdigit() and compact.startswith(contract.COUNTRY_CODE) and len(compact) > 10:
        compact = "+" + compact
    if not (compact.lstrip("+").isdigit() and compact.count("+") <= 1):
        raise invalid
    try:
        parsed = phonenumbers.parse(compact, sepsms_settings.PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise invalid from None
    if not phonenumbers.is_valid_number(parsed):
        raise invalid
    if phonenumbers.number_type(parsed) not in _ACCEPTED_TYPES:
        raise invalid
    normalised = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    prefixes = sepsms_settings.PHONE_ALLOWED_PREFIXES
    if prefixes and not normalised.startswith(prefixes):
        raise invalid
    return normalised


def normalize_many(values: Iterable[object]) -> list[str]:
    """Normalise every number, keeping the first occurrence of duplicates.

    Raises one :class:`ValidationError` listing every bad input.
    """
    seen: dict[str, None] = {}
    errors: list[ValidationError] = []
    for value in values:
        try:
            seen.setdefault(normalize_phone(value), None)
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise ValidationError(errors)
    return list(seen)


def mask_phone(phone: str) -> str:
    """Hide all but the country code and the last two digits: ``66******78``."""
    if len(phone) <= 4:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - 4) + phone[-2:]


def national_format(phone: str) -> str:
    """``66812345678`` → ``081-234-5678`` for display to Thai users."""
    if phone.startswith(contract.COUNTRY_CODE) and len(phone) == contract.NORMALISED_LENGTH:
        local = "0" + phone[2:]
        return f"{local[:3]}-{local[3:6]}-{local[6:]}"
    return phone
