"""Error pages and reports that never show what the app's views hold: numbers, codes, secrets."""

from __future__ import annotations

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hides ``sensitive_variables`` and ``sensitive_post_parameters`` even with ``DEBUG = True``.

    Django's own filter steps aside in debug mode; the app's views hold phone
    numbers, codes and webhook secrets, which no error page may show.
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        return True


def hide_sensitive_values(request: HttpRequest) -> None:
    """Make ``request``'s error page and report hide its sensitive values, in any mode."""
    request.exception_reporter_filter = AlwaysSafeExceptionReporterFilter()
