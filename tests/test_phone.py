from __future__ import annotations

import os
import re

import pytest
from django.core.exceptions import ValidationError
from django.template import engines
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from django_sepsms.phone import (
    _parse_mobile,
    _Rules,
    format_local,
    mask_phone,
    mask_phones_in,
    national_format,
    normalize_many,
    normalize_phone,
)


@pytest.mark.parametrize(
    "raw",
    [
        "0812345678",
        "66812345678",
        "+66812345678",
        "+66 81-234-5678",
        "081-234-5678",
        "(081) 234 5678",
        "0066812345678",
        " 0812345678 ",
        "๐๘๑๒๓๔๕๖๗๘",  # Thai digits
    ],
)
def test_accepted_forms_normalise_to_66(raw: str) -> None:
    assert normalize_phone(raw) == "66812345678"


@pytest.mark.parametrize("raw", ["0612345678", "0912345678", "0987654321"])
def test_all_mobile_prefixes(raw: str) -> None:
    assert normalize_phone(raw) == "66" + raw[1:]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        None,
        "abc",
        "021234567",  # Bangkok landline
        "081234567",  # too short
        "08123456789",  # too long
        "+1 650 253 0000",  # not Thai
        "0141234567",  # valid range but not an allowed prefix
        "66 8+1234567",
        "0" * 40,
    ],
)
def test_rejected_inputs_name_the_input(raw: str | None) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(raw)
    assert info.value.code == "invalid_phone"
    assert info.value.params == {"value": str(raw if raw is not None else "").strip()[:32]}


def test_prefixes_are_configurable() -> None:
    with override_settings(SEPSMS={"PHONE_ALLOWED_PREFIXES": ["668"]}):
        assert normalize_phone("0812345678") == "66812345678"
        with pytest.raises(ValidationError):
            normalize_phone("0912345678")


def test_region_is_configurable() -> None:
    with override_settings(SEPSMS={"PHONE_REGION": "US", "PHONE_ALLOWED_PREFIXES": None}):
        assert normalize_phone("+1 650 253 0000") == "16502530000"


def test_normalize_many_dedupes_and_reports_every_bad_number() -> None:
    assert normalize_many(["0812345678", "+66812345678", "0912345678"]) == [
        "66812345678",
        "66912345678",
    ]
    with pytest.raises(ValidationError) as info:
        normalize_many(["0812345678", "bad", "021234567"])
    assert [(e.params or {}).get("value") for e in info.value.error_list] == ["bad", "021234567"]


def test_mask_and_national_format() -> None:
    assert mask_phone("66812345678") == "66*******78"
    assert mask_phone("123") == "***"
    assert national_format("66812345678") == "081-234-5678"
    assert national_format("16502530000") == "16502530000"


@pytest.mark.parametrize(
    ("stored", "full", "masked"),
    [
        ("66812345678", "081-234-5678", "0xx-xxx-xx78"),
        ("66612345601", "061-234-5601", "0xx-xxx-xx01"),
        # Not in the stored form: read first, as the provider's numbers are.
        ("0912345678", "091-234-5678", "0xx-xxx-xx78"),
        ("+66 81 234 5678", "081-234-5678", "0xx-xxx-xx78"),
        # Not a Thai mobile number: as it is, or masked as everywhere else.
        ("16502530000", "16502530000", "16*******00"),
        ("12345", "12345", "12*45"),
        ("", "", ""),
    ],
)
def test_format_local(stored: str, full: str, masked: str) -> None:
    assert format_local(stored) == full
    assert format_local(stored, masked=True) == masked


def test_format_local_masked_shows_no_more_than_mask_phone() -> None:
    for stored in ["66812345678", "66987654321", "66600000012"]:
        shown = format_local(stored, masked=True)
        digits = "".join(ch for ch in shown if ch.isdigit())
        assert digits == "0" + stored[-2:]  # the trunk 0 stands for the country code
        assert mask_phone(stored)[-2:] == shown[-2:]


def test_mask_phones_in_local_form() -> None:
    text = "Call 0812345678 or +66 91-234-5699; order 123456789; user 66812345678"
    assert mask_phones_in(text, local=True) == (
        "Call 0xx-xxx-xx78 or 0xx-xxx-xx99; order 12*****89; user 0xx-xxx-xx78"
    )
    # The default stays the canonical masked form, as logs and payloads use it.
    assert mask_phones_in("Call 66812345678") == "Call 66*******78"
    assert mask_phones_in("phone-66812345678", "66812345678", local=True) == "phone-0xx-xxx-xx78"


def test_template_filters() -> None:
    template = engines["django"].from_string(
        "{% load sepsms_phone %}{{ n|phone_local }} {{ n|phone_masked }} {{ odd|phone_local }}"
    )
    shown = template.render({"n": "66812345678", "odd": "<b>1234567</b>"})
    assert shown == "081-234-5678 0xx-xxx-xx78 &lt;b&gt;1234567&lt;/b&gt;"


# The shortcuts for common forms must decide exactly as phonenumbers' full parse.
_DIGITS = st.text("0123456789", max_size=15)
#: Digits that are often a Thai mobile number, or nearly one.
_NATIONAL = st.builds(
    str.__add__,
    st.sampled_from(["8", "9", "6", "61", "66", "67", "671", "674", "68", "14", "2", "0", "1"]),
    st.text("0123456789", min_size=6, max_size=9),
)
_LEADS = st.sampled_from(
    ["", "0", "00", "66", "+66", "0066", "+", "660", "+660", "1", "+1", "001", "0660"]
)
_SEPARATOR = st.sampled_from(["", " ", "-", ".", "(", ")", "  ", "\t"])


@st.composite
def _typed_numbers(draw: st.DrawFn) -> str:
    """A number as people might type it: a leading part, digits, separators here and there."""
    text = draw(_LEADS) + draw(st.one_of(_DIGITS, _NATIONAL))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=3)))
    pieces, last = [], 0
    for cut in cuts:
        pieces += [text[last:cut], draw(_SEPARATOR)]
        last = cut
    return "".join([*pieces, text[last:]])


def _decision(rules: _Rules, value: str) -> str | None:
    try:
        return rules.normalize(value)
    except ValidationError:
        return None


def _full_parse_only(region: str, prefixes: tuple[str, ...]) -> _Rules:
    rules = _Rules(region, prefixes)
    rules._common = rules._mobile = None  # every number takes the full parse
    return rules


_CONFIGURATIONS = [("TH", ("666", "668", "669")), ("TH", ()), ("US", ())]


@pytest.mark.parametrize(("region", "prefixes"), _CONFIGURATIONS)
@given(value=_typed_numbers())
@settings(max_examples=int(os.environ.get("SEPSMS_FUZZ_EXAMPLES", "1500")), deadline=None)
def test_shortcuts_decide_as_the_full_parse(
    region: str, prefixes: tuple[str, ...], value: str
) -> None:
    fast, full = _Rules(region, prefixes), _full_parse_only(region, prefixes)
    assert _decision(fast, value) == _decision(full, value)


@pytest.mark.parametrize("region", ["TH", "US"])
@given(digits=st.text("0123456789", min_size=1, max_size=16), plus=st.booleans())
@settings(max_examples=int(os.environ.get("SEPSMS_FUZZ_EXAMPLES", "1500")), deadline=None)
def test_fast_mobile_only_accepts_what_the_full_parse_accepts(
    region: str, digits: str, plus: bool
) -> None:
    compact = "+" + digits if plus else digits
    fast = _Rules(region, ()).fast_mobile(compact)
    assert fast is None or fast == _parse_mobile(compact, region)


def test_the_common_forms_take_the_shortcut() -> None:
    rules = _Rules("TH", ())
    assert rules._common is not None
    for raw in ["0812345678", "66812345678", "+66812345678", "0066812345678", "+66 81-234-5678"]:
        compact = raw.replace(" ", "").replace("-", "")
        assert rules._common.match(compact), raw
    assert not rules._common.match("๐๘๑๒๓๔๕๖๗๘")


# -- phonenumbers.PhoneNumber objects built by hand ----------------------------


def _hand_made(**fields: object) -> object:
    import phonenumbers

    return phonenumbers.PhoneNumber(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"country_code": 66, "national_number": 10**5000},  # str() refuses 4,300+ digits
        {"country_code": 10**5000, "national_number": 812345678},
        {"country_code": 66, "national_number": -812345678},  # "+66-812345678"
        {"country_code": -66, "national_number": 812345678},  # "+-66812345678"
        {"country_code": True, "national_number": 812345678},
        {
            "country_code": 66,
            "national_number": 812345678,
            "italian_leading_zero": True,
            "number_of_leading_zeros": 10**9,  # a gigabyte of zeros
        },
    ],
    ids=["huge-number", "huge-country", "negative-number", "negative-country", "bool", "zeros"],
)
def test_a_malformed_phone_number_object_is_an_invalid_number(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_phone(_hand_made(**fields))
    assert caught.value.code == "invalid_phone"


def test_a_well_formed_phone_number_object_still_normalises() -> None:
    assert normalize_phone(_hand_made(country_code=66, national_number=812345678)) == (
        "66812345678"
    )


@given(
    country_code=st.one_of(st.none(), st.integers(), st.integers(-(10**6000), 10**6000)),
    national_number=st.one_of(st.none(), st.integers(), st.integers(-(10**6000), 10**6000)),
    extension=st.one_of(st.none(), st.text(max_size=50)),
    leading_zeros=st.one_of(st.none(), st.integers(min_value=-5, max_value=10**12)),
    raw_input=st.one_of(st.none(), st.text(max_size=40)),
)
@settings(max_examples=int(os.environ.get("SEPSMS_FUZZ_EXAMPLES", "1500")) // 3, deadline=None)
def test_any_phone_number_object_normalises_or_is_invalid(
    country_code: object,
    national_number: object,
    extension: object,
    leading_zeros: object,
    raw_input: object,
) -> None:
    value = _hand_made(
        country_code=country_code,
        national_number=national_number,
        extension=extension,
        italian_leading_zero=leading_zeros is not None,
        number_of_leading_zeros=leading_zeros,
        raw_input=raw_input,
    )
    try:
        normalised = normalize_phone(value)
    except ValidationError as exc:
        code = exc.code
    else:
        code = "valid"
        assert re.fullmatch(r"66[0-9]{9}", normalised)
    assert code in ("valid", "invalid_phone")
