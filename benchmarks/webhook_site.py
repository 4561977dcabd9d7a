"""Settings of the site bench_webhooks.py serves with gunicorn, on PostgreSQL."""

from __future__ import annotations

import os

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "benchmarks.webhook_site_urls"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django_sepsms"]
MIDDLEWARE: list[str] = []
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DB_NAME", "sepsms_bench"),
        "USER": os.environ.get("BENCH_DB_USER", "postgres"),
        "HOST": os.environ.get("BENCH_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_DB_PORT", "5432"),
        "CONN_MAX_AGE": 60,
        # Server-side binding and prepared statements, as docs/deployment.rst recommends;
        # bench_webhooks.py --client-side-binding measures Django's default instead.
        "OPTIONS": (
            {}
            if os.environ.get("BENCH_CLIENT_SIDE_BINDING")
            else {"prepare_threshold": 5, "server_side_binding": True}
        ),
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SEPSMS = {"WEBHOOK_SECRETS": ["whsec_bench"], "ORIGIN": "BENCH"}
LOGGING = {"version": 1, "disable_existing_loggers": False}
