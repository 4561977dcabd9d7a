"""Settings of the worker process that tests/sending/test_bulk.py starts: the test database,
django-tasks-db's queue, the HTTP backend pointed at the test's simulator."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

DATABASES["default"]["TEST"] = {}  # noqa: F405  (the worker uses the test database as is)
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
SEPSMS = {
    "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend",
    "API_KEY": "sk_sep_test",
    "BASE_URL": os.environ.get("SEPSMS_TEST_WORKER_BASE_URL", ""),
    "ORIGIN": "TESTSHOP",
    "USE_TASKS": True,
    "BATCH_SIZE": int(os.environ.get("SEPSMS_TEST_WORKER_BATCH_SIZE", "50")),
    "SEND_CONCURRENCY": 1,
}
