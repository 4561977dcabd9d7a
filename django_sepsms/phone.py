"""Phone numbers: parse what people type, keep one canonical form.

Every number the app stores or sends is ``66xxxxxxxxx`` (country code, no plus),
the form the provider's examples use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

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
    return _normalize(value, sepsms_settings.PHONE_REGION, sepsms_settings.PHONE_ALLOWED_PREFIXES)


def normalize_reported(raw: str) -> str:
    """``raw`` normalised like :func:`normalize_phone`, or as it is when that fails.

    For numbers the provider reports back: an odd one is still stored and
    matched as written, never refused.
    """
    try:
        return normalize_phone(raw)
    except ValidationError:
        return raw


def _normalize(value: object, region: str, prefixes: tuple[str, ...]) -> str:
    raw = str(value if value is not None else "").strip()
    compact = _SEPARATORS.sub("", raw)
    if not compact or len(compact) > _MAX_INPUT_LENGTH:
        raise _invalid(raw)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif compact.isdigit() and compact.startswith(contract.COUNTRY_CODE) and len(compact) > 10:
        compact = "+" + compact
    if not (compact.lstrip("+").isdigit() and compact.count("+") <= 1):
        raise _invalid(raw)
    normalised = _fast_mobile(compact, region) or _parse_mobile(compact, region)
    if not normalised or (prefixes and not normalised.startswith(prefixes)):
        raise _invalid(raw)
    return normalised


def _invalid(raw: str) -> ValidationError:
    return ValidationError(
        _("“%(value)s” is not a valid mobile phone number."),
        code="invalid_phone",
        params={"value": raw[:_MAX_INPUT_LENGTH]},
    )


@lru_cache(maxsize=16)
def _region_mobile(region: str) -> tuple[str, str, re.Pattern[str], frozenset[int]] | None:
    """Country code, national prefix, mobile pattern and lengths, from phonenumbers' metadata."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.mobile is None or not metadata.mobile.national_number_pattern:
        return None
    return (
        str(metadata.country_code),
        metadata.national_prefix or "",
        re.compile(metadata.mobile.national_number_pattern),
        frozenset(metadata.mobile.possible_length or ()),
    )


def _fast_mobile(compact: str, region: str) -> str | None:
    """The normalised number when ``compact`` is plainly a mobile number of ``region``.

    Sends of many numbers spend most of their validation here, so the common
    forms are matched against phonenumbers' own mobile pattern without a full
    parse; anything else returns ``None`` and takes the full path.
    """
    info = _region_mobile(region)
    if info is None:
        return None
    country_code, national_prefix, pattern, lengths = info
    digits = compact.lstrip("+")
    if not digits.isascii():
        return None
    if compact.startswith("+") or (digits.startswith(country_code) and len(digits) > 10):
        if not digits.startswith(country_code):
            return None
        national = digits[len(country_code) :]
    elif national_prefix and digits.startswith(national_prefix):
        national = digits[len(national_prefix) :]
    else:
        return None
    if len(national) in lengths and pattern.fullmatch(national):
        return country_code + national
    return None


def _parse_mobile(compact: str, region: str) -> str:
    """Full parse with phonenumbers; ``""`` when not a mobile number of an allowed kind."""
    try:
        parsed = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    if phonenumbers.number_type(parsed) not in _ACCEPTED_TYPES:
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


def normalize_many(values: Iterable[object]) -> list[str]:
    """Normalise every number, keeping the first occurrence of duplicates.

    Raises one :class:`ValidationError` listing every bad input.
    """
    seen: dict[str, None] = {}
    errors: list[ValidationError] = []
    region, prefixes = sepsms_settings.PHONE_REGION, sepsms_settings.PHONE_ALLOWED_PREFIXES
    for value in values:
        try:
            seen.setdefault(_normalize(value, region, prefixes), None)
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise ValidationError(errors)
    return list(seen)


def mask_phone(phone: str) -> str:
    """Hide all but the country code and the last two digits: ``66*******78``."""
    if len(phone) <= 4:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - 4) + phone[-2:]


#: What may be a phone number inside a longer text: 9 to 15 digits in a row
#: (``812345678``, ``0812345678``, ``66812345678``, ``+66812345678``), or the
#: number written in groups (``081-234-5678``, ``+66 81 234 5678``).
_PHONE_IN_TEXT = re.compile(
    r"(?<!\d)(?:\+?\d{9,15}|0\d{2}[ -]\d{3}[ -]\d{4}|\+?66[ -]?\d{1,2}[ -]\d{3}[ -]\d{4})(?!\d)"
)


def mask_phones_in(text: str, *phones: str) -> str:
    """``text`` with every phone number in it masked, for people who may not see them.

    Masks runs of 9 to 15 digits and grouped numbers (``081-234-5678``). Each of
    ``phones`` (normalised, ``66xxxxxxxxx``) is also found however it is
    written, with or without the country code or the leading 0, separated by
    spaces, dashes, dots or brackets.
    """
    for phone in phones:
        if phone.isascii() and phone.isdigit() and len(phone) > 6:
            text = _written_as(phone).sub(_masked, text)
    return _PHONE_IN_TEXT.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    return mask_phone(match.group())


@lru_cache(maxsize=256)
def _written_as(phone: str) -> re.Pattern[str]:
    """``phone`` in any of the ways people write it."""
    code = contract.COUNTRY_CODE
    national = phone[len(code) :] if phone.startswith(code) else phone
    gap = r"[\s\-.()]*"
    digits = gap.join(national)
    return re.compile(rf"(?<!\d)(?:\+?{code}|0)?{gap}{digits}(?!\d)")


def national_format(phone: str) -> str:
    """``66812345678`` → ``081-234-5678`` for display to Thai users."""
    if phone.startswith(contract.COUNTRY_CODE) and len(phone) == contract.NORMALISED_LENGTH:
        local = "0" + phone[2:]
        return f"{local[:3]}-{local[3:6]}-{local[6:]}"
    return phone
