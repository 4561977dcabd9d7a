"""Shared values and helpers of the test suite."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection
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
        "PUMPING_GUARD": None,  # as in tests/settings.py
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
            exc_type, exc_value, tb = record.exc_info
            reporter = ExceptionReporter(request, exc_type, exc_value, tb, is_email=True)
            self.texts.append(reporter.get_traceback_text() + reporter.get_traceback_html())


def run_at_once(count: int, action: Callable[[], Any]) -> list[Any]:
    """``action`` in ``count`` threads released together, each closing its own connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            outcome = action()
            with lock:
                results.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
