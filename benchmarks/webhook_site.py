"""Settings of the site bench_webhooks.py serves with gunicorn, on PostgreSQL (see sites.py)."""

from __future__ import annotations

from benchmarks.sites import cache, database

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "benchmarks.webhook_site_urls"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django_sepsms"]
MIDDLEWARE: list[str] = []
DATABASES = {"default": database()}
CACHES = {"default": cache()}
SEPSMS = {"WEBHOOK_SECRETS": ["whsec_bench"], "ORIGIN": "BENCH"}
LOGGING = {"version": 1, "disable_existing_loggers": False}
