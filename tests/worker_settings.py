"""Settings of the worker processes that tests/queues.py starts: the test database, the
HTTP backend pointed at the test's simulator, and the queue of ``SEPSMS_TEST_WORKER_QUEUE``:
django-tasks-db's (``db``), or RQ's or Celery's (``rq``, ``celery``), their settings read
from docs/campaigns.rst."""

from __future__ import annotations

import os

from tests.queues import documented_settings, queue_url
from tests.settings import *  # noqa: F403

DATABASES["default"]["TEST"] = {}  # noqa: F405  (the worker uses the test database as is)
SEPSMS = {
    "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend",
    "API_KEY": "sk_sep_test",
    "BASE_URL": os.environ.get("SEPSMS_TEST_WORKER_BASE_URL", ""),
    "ORIGIN": "TESTSHOP",
    "USE_TASKS": True,
    "BATCH_SIZE": int(os.environ.get("SEPSMS_TEST_WORKER_BATCH_SIZE", "50")),
    "SEND_CONCURRENCY": 1,
}
_QUEUE = os.environ.get("SEPSMS_TEST_WORKER_QUEUE", "db")
if _QUEUE in {"rq", "celery"}:
    globals().update(documented_settings(_QUEUE, INSTALLED_APPS, queue_url()))  # noqa: F405
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
