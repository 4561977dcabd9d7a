"""Making codes and references, and hashing codes: what a one-time code is made of."""

from __future__ import annotations

import secrets
import unicodedata

from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from .. import contract
from ..backends.base import BaseBackend
from ..backends.loading import get_backend
from ..conf import sepsms_settings

#: The references of codes this app makes: no 0, 1, I or O to misread.
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_REFERENCE_LENGTH = 6
_HASH_SALT = "django_sepsms.otp.code"


@sensitive_variables("code")
def hash_code(reference: str, phone: str, code: str) -> str:
    """Keyed hash (HMAC-SHA256 under ``SECRET_KEY``) of one code of one challenge."""
    return salted_hmac(_HASH_SALT, f"{reference}:{phone}:{code}", algorithm="sha256").hexdigest()


@sensitive_variables()
def make_code(length: int) -> str:
    """A code of ``length`` random digits (:mod:`secrets`)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def ascii_digits(text: str) -> str:
    """``text`` with every Unicode decimal digit (Thai, Arabic-Indic, full-width…) in ASCII."""
    return "".join(
        ch if (digit := unicodedata.decimal(ch, None)) is None else str(digit) for ch in text
    )


def make_reference() -> str:
    """A random reference of a code this app makes (six capitals and digits, no 0, 1, I, O)."""
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(_REFERENCE_LENGTH))


def make_decoy_reference(backend: BaseBackend | None = None) -> str:
    """A reference drawn like a real code's would be now: the provider's form in
    provider mode, :func:`make_reference`'s otherwise. For answers that send nothing."""
    if uses_provider_otp(backend or get_backend()):
        return "".join(
            secrets.choice(contract.PROVIDER_REFERENCE_ALPHABET)
            for _ in range(contract.PROVIDER_REFERENCE_LENGTH)
        )
    return make_reference()


def code_ttl(backend: BaseBackend | None = None) -> int:
    """The life, in seconds, of a code sent now (the provider's range in provider mode)."""
    ttl = sepsms_settings.OTP_TTL
    if uses_provider_otp(backend or get_backend()):
        low, high = contract.OTP_TTL_RANGE
        return min(high, max(low, ttl))
    return ttl


def render_otp_text(template: str, code: str, reference: str) -> str:
    """``OTP_TEMPLATE`` with the code and the reference filled in."""
    return template.replace(contract.OTP_CODE_PLACEHOLDER, code).replace(
        contract.OTP_REF_PLACEHOLDER, reference
    )


def uses_provider_otp(backend: BaseBackend) -> bool:
    return sepsms_settings.OTP_MODE == "provider" and backend.supports_provider_otp
