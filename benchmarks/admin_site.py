"""Settings of bench_admin.py: the test suite's, with what lets one process switch databases.

Sessions live in signed cookies (the same superuser, password hash included, is
in both databases, so one login serves both) and the cache is this process's
memory, which a cold render clears (never a shared Redis).
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
