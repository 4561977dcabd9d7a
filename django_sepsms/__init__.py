"""django-sepsms: SMS, OTP and phone login for Django through SEPSMS."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Messages sent with the locmem backend (``django_sepsms.backends.locmem``).
outbox: list[Any] = []

_LAZY = {
    "send_sms": "django_sepsms.sending",
    "send_bulk": "django_sepsms.sending",
    "get_backend": "django_sepsms.backends.loading",
    "get_balance": "django_sepsms.sending",
    "send_otp": "django_sepsms.otp",
    "verify_otp": "django_sepsms.otp",
}

__all__ = [
    "__version__",
    "get_backend",
    "get_balance",
    "outbox",
    "send_bulk",
    "send_otp",
    "send_sms",
    "verify_otp",
]

if TYPE_CHECKING:
    from .backends.loading import get_backend
    from .otp import send_otp, verify_otp
    from .sending import get_balance, send_sms
    from .sending.bulk import send_bulk


def __getattr__(name: str) -> Any:
    # Imported on first use: this package is imported before apps are ready.
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'django_sepsms' has no attribute {name!r}")
