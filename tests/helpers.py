"""Shared values and helpers of the test suite."""

from __future__ import annotations

import logging
from typing import Any

from django.views.debug import ExceptionReporter

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


class ErrorReports(logging.Handler):
    """The error reports Django would mail to ADMINS (or an error tracker would keep)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            request = getattr(record, "request", None)
            reporter = ExceptionReporter(request, *record.exc_info, is_email=True)
            self.texts.append(reporter.get_traceback_text() + reporter.get_traceback_html())
