"""Forms of the phone pages: a number (step 1), a code (step 2)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .. import contract
from ..phone import normalize_phone


class PhoneForm(forms.Form):
    """Step 1: the mobile number, in any usual form."""

    phone = forms.CharField(
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
