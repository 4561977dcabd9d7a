from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from django_sepsms.phone import mask_phone, national_format, normalize_many, normalize_phone


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
    assert [e.params["value"] for e in info.value.error_list] == ["bad", "021234567"]


def test_mask_and_national_format() -> None:
    assert mask_phone("66812345678") == "66*******78"
    assert mask_phone("123") == "***"
    assert national_format("66812345678") == "081-234-5678"
    assert national_format("16502530000") == "16502530000"
