"""Phone numbers: parse what people type, keep one canonical form.

Every number the app stores or sends is ``66xxxxxxxxx`` (country code, no plus),
the form the provider's examples use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
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
#: The largest country code and the first national number too long for any plan.
_MAX_COUNTRY_CODE = 999
_MAX_NATIONAL_NUMBER = 10**17

#: A number as the app takes it: text in any usual form, or a
#: ``phonenumbers.PhoneNumber`` (django-phonenumber-field's ``PhoneNumber`` is one).
PhoneInput = str | phonenumbers.PhoneNumber


def normalize_phone(value: object) -> str:
    """Return ``value`` as ``66xxxxxxxxx`` or raise :class:`ValidationError`.

    Accepts ``0812345678``, ``66812345678``, ``+66 81-234-5678`` and the like,
    and ``phonenumbers.PhoneNumber`` objects (django-phonenumber-field's
    ``PhoneNumber`` too), read by their country code, not the region.
    Only mobile numbers of the allowed regions and prefixes pass
    (``SEPSMS["PHONE_REGION"]`` and ``SEPSMS["PHONE_ALLOWED_PREFIXES"]``).
    """
    return phone_normalizer()(value)


def phone_text(value: object) -> str:
    """``value`` as text to read a number from: a ``phonenumbers.PhoneNumber``
    (django-phonenumber-field's ``PhoneNumber`` is one) in E.164 (``+66812345678``,
    whatever its own display format), or its input when it could not be parsed;
    ``None`` as ``""``; anything else as ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, phonenumbers.PhoneNumber):
        if value.country_code and value.national_number and _well_formed(value):
            return phonenumbers.format_number(value, phonenumbers.PhoneNumberFormat.E164)
        return str(value.raw_input or "")
    return str(value if value is not None else "")


def _well_formed(value: phonenumbers.PhoneNumber) -> bool:
    """Whether ``value``'s fields are those of some number: whole numbers in range.

    An object built by hand may hold anything; formatting a 5,000-digit number
    raises ``ValueError``, a negative one reads as a separator, and a billion
    leading zeros are written out in full.
    """
    country_code, national = value.country_code, value.national_number
    zeros = value.number_of_leading_zeros if value.italian_leading_zero else 0
    return (
        type(country_code) is int
        and 0 < country_code <= _MAX_COUNTRY_CODE
        and type(national) is int
        and 0 < national < _MAX_NATIONAL_NUMBER
        and (zeros is None or (type(zeros) is int and 0 <= zeros <= _MAX_INPUT_LENGTH))
    )


def phone_normalizer() -> Callable[[object], str]:
    """:func:`normalize_phone` under the settings as they are now, read once.

    For reading many numbers: the settings are not looked up again for each.
    """
    return _rules(sepsms_settings.PHONE_REGION, sepsms_settings.PHONE_ALLOWED_PREFIXES).normalize


def normalize_reported(raw: str) -> str:
    """``raw`` normalised like :func:`normalize_phone`, or as it is when that fails.

    For numbers the provider reports back: an odd one is still stored and
    matched as written, never refused.
    """
    try:
        return normalize_phone(raw)
    except ValidationError:
        return raw


def _invalid(raw: str) -> ValidationError:
    return ValidationError(
        _("“%(value)s” is not a valid mobile phone number."),
        code="invalid_phone",
        params={"value": raw[:_MAX_INPUT_LENGTH]},
    )


@lru_cache(maxsize=16)
def _rules(region: str, prefixes: tuple[str, ...]) -> _Rules:
    return _Rules(region, prefixes)


class _Rules:
    """How numbers are read for one region and set of allowed prefixes.

    Sends of many numbers spend most of their validation here, so the common
    forms of a mobile number (``0…``, ``66…``, ``+66…``, ``0066…``, with or
    without separators) are matched in one go against phonenumbers' own mobile
    pattern; anything else takes the general path, where the full parse alone
    ever refuses a number.
    """

    __slots__ = ("_common", "_country_code", "_mobile", "_national_prefix", "prefixes", "region")

    def __init__(self, region: str, prefixes: tuple[str, ...]) -> None:
        self.region = region
        self.prefixes = prefixes
        self._country_code = ""
        self._national_prefix = ""
        self._mobile: re.Pattern[str] | None = None
        self._common: re.Pattern[str] | None = None
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None or metadata.mobile is None:
            return
        pattern = metadata.mobile.national_number_pattern
        lengths = sorted(metadata.mobile.possible_length or ())
        if not pattern or not lengths:
            return
        country_code = self._country_code = str(metadata.country_code)
        national_prefix = self._national_prefix = metadata.national_prefix or ""
        length = "|".join(rf"\d{{{n}}}" for n in lengths)
        # ASCII digits only, the length and the pattern checked in one match.
        mobile = rf"(?=(?:{length})\Z)(?:{pattern})"
        self._mobile = re.compile(rf"{mobile}\Z", re.ASCII)
        # Only the leads the general path strips the same way (see fast_mobile):
        # "+" or "00" and the country code; the country code of a number longer
        # than 10 digits; a national prefix "0" not followed by another 0.
        ways_in = [rf"\+{country_code}", f"00{country_code}"]
        ways_in.append(rf"{country_code}(?=\d{{{max(0, 11 - len(country_code))}}})")
        if national_prefix == "0":
            ways_in.append("0(?!0)")
        if 2 + len(country_code) + lengths[-1] <= _MAX_INPUT_LENGTH:
            common = rf"(?:{'|'.join(ways_in)})(?P<national>{mobile})\Z"
            self._common = re.compile(common, re.ASCII)

    def normalize(self, value: object) -> str:
        """:func:`normalize_phone` under these rules."""
        raw = (value if type(value) is str else phone_text(value)).strip()
        common = self._common
        found = common.match(raw) if common is not None else None
        if found is None:
            compact = _SEPARATORS.sub("", raw)
            found = common.match(compact) if common is not None else None
            if found is None:
                return self._general(raw, compact)
        normalised = self._country_code + found["national"]
        if self.prefixes and not normalised.startswith(self.prefixes):
            raise _invalid(raw)
        return normalised

    def _general(self, raw: str, compact: str) -> str:
        if not compact or len(compact) > _MAX_INPUT_LENGTH:
            raise _invalid(raw)
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        elif compact.isdigit() and compact.startswith(contract.COUNTRY_CODE) and len(compact) > 10:
            compact = "+" + compact
        if not (compact.lstrip("+").isdigit() and compact.count("+") <= 1):
            raise _invalid(raw)
        normalised = self.fast_mobile(compact) or _parse_mobile(compact, self.region)
        if not normalised or (self.prefixes and not normalised.startswith(self.prefixes)):
            raise _invalid(raw)
        return normalised

    def fast_mobile(self, compact: str) -> str | None:
        """The normalised number when ``compact`` is plainly a mobile number, else ``None``.

        ``compact`` is digits, perhaps after one ``+``. ``None`` says only
        "not decided here": the full parse then decides.
        """
        mobile = self._mobile
        if mobile is None or not compact.isascii():
            return None
        country_code = self._country_code
        if compact[:1] == "+":
            if not compact.startswith(country_code, 1):
                return None
            national = compact[1 + len(country_code) :]
        elif len(compact) > 10 and compact.startswith(country_code):
            national = compact[len(country_code) :]
        elif self._national_prefix and compact.startswith(self._national_prefix):
            national = compact[len(self._national_prefix) :]
        else:
            return None
        if mobile.match(national):
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
    normalize = phone_normalizer()
    seen: dict[str, None] = {}
    errors: list[ValidationError] = []
    for value in values:
        try:
            seen[normalize(value)] = None
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


def mask_phones_in(text: str, *phones: str, local: bool = False) -> str:
    """``text`` with every phone number in it masked, for people who may not see them.

    Masks runs of 9 to 15 digits and grouped numbers (``081-234-5678``). Each of
    ``phones`` (normalised, ``66xxxxxxxxx``) is also found however it is
    written, with or without the country code or the leading 0, separated by
    spaces, dashes, dots or brackets. Each becomes ``66*******78``
    (:func:`mask_phone`), or with ``local`` ``0xx-xxx-xx78`` when it is a Thai
    mobile number (:func:`format_local`).
    """
    masked = _masked_local if local else _masked
    for phone in phones:
        if phone.isascii() and phone.isdigit() and len(phone) > 6:
            text = _written_as(phone).sub(masked, text)
    return _PHONE_IN_TEXT.sub(masked, text)


def _masked(match: re.Match[str]) -> str:
    return mask_phone(match.group())


#: A Thai mobile number as found in a text, separators removed: its national digits.
_THAI_MOBILE_IN_TEXT = re.compile(
    rf"(?:\+?{contract.COUNTRY_CODE}|0)?(?P<national>[689]\d{{8}})\Z"
)


def _masked_local(match: re.Match[str]) -> str:
    found = match.group()
    thai = _THAI_MOBILE_IN_TEXT.match(_SEPARATORS.sub("", found))
    if thai is None:
        return mask_phone(found)
    return format_local(contract.COUNTRY_CODE + thai["national"], masked=True)


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
    if _is_thai_mobile(phone):
        local = "0" + phone[len(contract.COUNTRY_CODE) :]
        return f"{local[:3]}-{local[3:6]}-{local[6:]}"
    return phone


#: What stands for a hidden digit in :func:`format_local`'s masked form.
MASK_DIGIT = "x"


def format_local(phone: str, *, masked: bool = False) -> str:
    """A stored number as people read it: ``081-234-5678``, or masked ``0xx-xxx-xx78``.

    The one form the pages, the admin and the texts people read show a number
    in. Masked, it keeps what :func:`mask_phone` keeps (the last two digits;
    the leading ``0`` stands for the country code). A number that is not a
    Thai mobile number in the stored form is read with :func:`normalize_reported`
    first; one that still is not is shown as it is, or through :func:`mask_phone`.
    """
    phone = str(phone or "")
    if not _is_thai_mobile(phone):
        reported = normalize_reported(phone) if phone else phone
        if not _is_thai_mobile(reported):
            return mask_phone(phone) if masked else phone
        phone = reported
    if not masked:
        return national_format(phone)
    hidden = MASK_DIGIT
    return f"0{hidden * 2}-{hidden * 3}-{hidden * 2}{phone[-2:]}"


def _is_thai_mobile(phone: str) -> bool:
    return (
        len(phone) == contract.NORMALISED_LENGTH
        and phone.startswith(contract.COUNTRY_CODE)
        and phone.isascii()
        and phone.isdigit()
    )
