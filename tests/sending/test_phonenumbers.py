"""``phonenumbers.PhoneNumber`` values, and django-phonenumber-field's, wherever a number
is taken: sending, campaigns, codes, the phone form; and docs/sending.rst's blocks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from phonenumber_field.phonenumber import PhoneNumber as FieldPhoneNumber

from django_sepsms import send_bulk, send_otp, send_sms, verify_otp
from django_sepsms.models import Recipient
from django_sepsms.otp.forms import PhoneForm
from django_sepsms.phone import normalize_many, normalize_phone, phone_text
from django_sepsms.simulator import Simulator
from tests.first_hour import rst_blocks
from tests.testapp.models import Customer

ROOT = Path(__file__).resolve().parent.parent.parent


def doc_block(caption: str) -> str:
    (block,) = (b for b in rst_blocks(ROOT / "docs" / "sending.rst") if b.caption == caption)
    return block.text


@pytest.mark.parametrize(
    "number",
    [
        phonenumbers.parse("0812345678", "TH"),
        phonenumbers.parse("+66 81 234 5678"),
        FieldPhoneNumber.from_string("081-234-5678", region="TH"),
        FieldPhoneNumber.from_string("+66812345678"),
    ],
    ids=["phonenumbers-national", "phonenumbers-e164", "field-national", "field-e164"],
)
def test_a_phonenumber_normalises_like_its_text(number: phonenumbers.PhoneNumber) -> None:
    assert normalize_phone(number) == "66812345678"
    assert phone_text(number) == "+66812345678"


@pytest.mark.parametrize("fmt", ["E164", "INTERNATIONAL", "NATIONAL", "RFC3966"])
def test_the_field_display_format_does_not_matter(fmt: str) -> None:
    with override_settings(PHONENUMBER_DEFAULT_FORMAT=fmt):
        number = FieldPhoneNumber.from_string("0812345678", region="TH")
        assert normalize_phone(number) == "66812345678"


@pytest.mark.parametrize(
    "number",
    [
        phonenumbers.parse("021234567", "TH"),  # a Bangkok landline
        phonenumbers.parse("+1 202 555 0100"),  # not the region
        phonenumbers.PhoneNumber(),  # nothing in it
        FieldPhoneNumber(raw_input="not a number"),  # what the field keeps of bad input
        FieldPhoneNumber.from_string("0812", region="TH"),  # parsed, not valid
    ],
)
def test_a_phonenumber_that_is_no_mobile_number_is_refused(
    number: phonenumbers.PhoneNumber,
) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(number)
    assert info.value.code == "invalid_phone"


def test_the_allowed_prefixes_apply_to_phonenumbers() -> None:
    number = phonenumbers.parse("0912345678", "TH")
    allowed = {"PHONE_ALLOWED_PREFIXES": ["668"]}
    with override_settings(SEPSMS=allowed), pytest.raises(ValidationError):
        normalize_phone(number)


def test_text_and_objects_mix_and_duplicates_are_sent_once() -> None:
    number = phonenumbers.parse("0812345678", "TH")
    assert normalize_many([number, "081-234-5678", "0891234567"]) == [
        "66812345678",
        "66891234567",
    ]


@pytest.mark.django_db
def test_send_sms_takes_one_phonenumber_or_many(sms_outbox: list[Any]) -> None:
    one = send_sms("Hi", phonenumbers.parse("0812345678", "TH"))
    many = send_sms(
        "Hi {name}",
        [FieldPhoneNumber.from_string("0891234567", region="TH"), "0812345678"],
        variables={
            FieldPhoneNumber.from_string("+66891234567"): {"name": "Som"},
            "0812345678": {"name": "Ann"},
        },
    )
    assert list(one.recipients.values_list("phone", flat=True)) == ["66812345678"]
    assert set(many.recipients.values_list("phone", flat=True)) == {"66812345678", "66891234567"}
    assert Recipient.objects.get(message=many, phone="66891234567").variables == {"name": "Som"}
    assert sms_outbox[0].recipients == ["66812345678"]


@pytest.mark.django_db
def test_send_bulk_takes_phonenumbers_in_every_item_form(sms_outbox: list[Any]) -> None:
    items = [
        phonenumbers.parse("0812345678", "TH"),
        (FieldPhoneNumber.from_string("0891234567", region="TH"), {"name": "Som"}),
        {"phone": phonenumbers.parse("+66612345678"), "name": "Malee"},
        FieldPhoneNumber(raw_input="not a number"),
    ]
    report = send_bulk("Hi", items)
    assert report.recorded == 3
    assert report.refused[0][0] == "not a number"
    phones = set(report.message.recipients.values_list("phone", flat=True))
    assert phones == {"66812345678", "66891234567", "66612345678"}
    assert Recipient.objects.get(phone="66612345678").variables == {"name": "Malee"}


@pytest.mark.django_db
def test_send_and_verify_otp_take_a_phonenumber(sim: Simulator) -> None:
    number = FieldPhoneNumber.from_string("0812345678", region="TH")
    challenge = send_otp(number)
    assert challenge.phone == "66812345678"
    code = sim.last_otp_code("66812345678") or ""
    assert not verify_otp(challenge.reference, code, phone=phonenumbers.parse("+66891234567"))
    assert verify_otp(challenge.reference, code, phone=number)


def test_the_phone_form_shows_and_takes_a_phonenumber() -> None:
    number = FieldPhoneNumber.from_string("+66812345678")
    shown = PhoneForm(initial={"phone": number})
    assert re.search(r'value="081-234-5678"', str(shown["phone"]))
    bound = PhoneForm(data={"phone": phonenumbers.parse("0812345678", "TH")})
    assert bound.is_valid(), bound.errors
    assert bound.cleaned_data["phone"] == "66812345678"
    refused = PhoneForm(data={"phone": phonenumbers.parse("021234567", "TH")})
    assert not refused.is_valid()
    assert refused.errors.as_data()["phone"][0].code == "invalid_phone"
    bad = PhoneForm(initial={"phone": FieldPhoneNumber(raw_input="nope")})
    assert 'value="nope"' in str(bad["phone"])


def test_the_documented_model_is_the_test_model() -> None:
    source = (ROOT / "tests" / "testapp" / "models.py").read_text(encoding="utf-8")
    block = doc_block("models.py, with django-phonenumber-field")
    model = block[block.index("class Customer") :]
    assert model in source
    for line in block.splitlines():
        if line.startswith(("from ", "import ")):
            assert line in source


@pytest.mark.django_db
def test_the_documented_calls_run(sim: Simulator) -> None:
    Customer.objects.create(name="Malee", phone="081-234-5678")
    Customer.objects.create(name="Som", phone="+66891234567")
    names: dict[str, Any] = {"Customer": Customer}
    exec(doc_block("the numbers as the model gives them"), names)
    assert names["challenge"].phone == "66812345678"
    sent = [{r.msisdn for r in m.recipients} for m in sim.messages.values()]
    both = {"66812345678", "66891234567"}
    assert sent == [{"66812345678"}, both, both]
