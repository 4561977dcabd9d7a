"""Shared values and helpers of the test suite."""

from __future__ import annotations

from typing import Any

from django_sepsms.simulator import Simulator

KEY = "sk_sep_test"


def http_settings(sim: Simulator, **extra: Any) -> dict[str, Any]:
    """``SEPSMS`` settings pointing the HTTP backend at ``sim``."""
    return {
        "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend",
        "API_KEY": KEY,
        "BASE_URL": sim.base_url,
        "ORIGIN": "TESTSHOP",
        "TIMEOUT": 2,
        "MAX_RETRY_WAIT": 2,
        "WEBHOOK_SECRETS": ["whsec_test_current", "whsec_test_previous"],
        "OTP_MIN_ANSWER_TIME": 0,
        **extra,
    }
