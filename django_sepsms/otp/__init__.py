"""One-time codes and the phone flows built on them.

:func:`send_otp` and :func:`verify_otp` (and their async twins
:func:`asend_otp`, :func:`averify_otp`) are the Python API; ``flows`` holds the
two steps every phone page and API view goes through, ``limits`` the end-user
limits, ``views`` and ``forms`` the built-in pages.
"""

from .challenges import Reason, VerificationResult, asend_otp, averify_otp, send_otp, verify_otp
from .codes import ascii_digits

__all__ = [
    "Reason",
    "VerificationResult",
    "ascii_digits",
    "asend_otp",
    "averify_otp",
    "send_otp",
    "verify_otp",
]
