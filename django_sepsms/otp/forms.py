"""Forms of the phone pages: a number (step 1), a code (step 2)."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .. import contract
from ..phone import national_format, normalize_phone, phone_text


class PhoneInputField(forms.CharField):
    """A number as text; a ``phonenumbers.PhoneNumber`` (django-phonenumber-field's
    ``PhoneNumber``) is taken too, in the form's data or its ``initial``, where it is
    shown as people write it (``081-234-5678``)."""

    def to_python(self, value: Any) -> str | None:
        if isinstance(value, phonenumbers.PhoneNumber):
            value = phone_text(value)
        text: str | None = super().to_python(value)
        return text

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, phonenumbers.PhoneNumber):
            try:
                return national_format(normalize_phone(value))
            except ValidationError:
                return phone_text(value)
        return value


class PhoneForm(forms.Form):
    """Step 1: the mobile number, in any usual form (or a ``phonenumbers.PhoneNumber``)."""

    phone = PhoneInputField(
        label=_("Mobile number"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "inputmode": "tel",
                "autocomplete": "tel",
                "placeholder": "081 234 5678",
                "autofocus": True,
            }
        ),
    )

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])


class CodeForm(forms.Form):
    """Step 2: the code from the SMS."""

    code = forms.CharField(
        label=_("Code"),
        max_length=16,  # room for spaces: the digits are counted in clean_code()
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                # ASCII, Thai and full-width digits, and spaces: clean_code() reads them all.
                "pattern": "[0-9\u0e50-\u0e59\uff10-\uff19 ]*",
                "autofocus": True,
                "aria-describedby": "sepsms-error",
            }
        ),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        low, high = contract.OTP_CODE_LENGTH_RANGE
        if not code.isdigit() or not low <= len(code) <= high:
            raise forms.ValidationError(_("Enter the digits from the SMS."), code="not_digits")
        return code
