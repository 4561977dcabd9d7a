"""The Celery app of the Celery worker tests (``celery -A tests.celery_app worker``), set
up the usual way: from the Django settings' ``CELERY_`` names (tests/worker_settings.py)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.worker_settings")
app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
