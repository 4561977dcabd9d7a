"""Settings for the test suite.

The database comes from ``DATABASE_URL`` (default: SQLite, in a file for the test run), e.g.
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/sepsms``; add
``?server_side_binding=true&prepare_threshold=5`` for psycopg's server-side
binding and prepared statements. The cache is Redis
at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/15``) so limits are shared
across processes as in production.
"""

from __future__ import annotations

import os
import tempfile
from urllib.parse import parse_qs, unquote, urlparse

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Asia/Bangkok"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("th", "ไทย")]
ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_sepsms",
    "tests.testapp",
]
AUTH_USER_MODEL = "testapp.User"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _pg_options(query: dict[str, list[str]]) -> dict[str, object]:
    options: dict[str, object] = {}
    if "server_side_binding" in query:
        options["server_side_binding"] = query["server_side_binding"][-1].lower() == "true"
    if "prepare_threshold" in query:
        options["prepare_threshold"] = int(query["prepare_threshold"][-1])
    return options


def _database_from_url(url: str) -> dict[str, object]:
    parsed = urlparse(url)
    if parsed.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "sepsms",
            "USER": unquote(parsed.username or "postgres"),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "127.0.0.1",
            "PORT": str(parsed.port or 5432),
            "TEST": {"NAME": "test_" + (unquote(parsed.path.lstrip("/")) or "sepsms")},
            # e.g. ?server_side_binding=true&prepare_threshold=5, as a busy site would run.
            "OPTIONS": _pg_options(parse_qs(parsed.query)),
        }
    if parsed.scheme == "sqlite":
        # A file, not memory: live-server tests then get connections of their own
        # (an in-memory test database is one connection shared by every thread).
        test_name = os.path.join(tempfile.gettempdir(), f"sepsms-test-{os.getpid()}.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": parsed.path or ":memory:",
            "TEST": {"NAME": test_name},
            "OPTIONS": {"timeout": 20},
        }
    raise ValueError(f"Unsupported DATABASE_URL scheme: {parsed.scheme}")


DATABASES = {"default": _database_from_url(os.environ.get("DATABASE_URL", "sqlite://"))}

_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _REDIS_URL,
        # Each test run (and each xdist worker) gets its own keys.
        "KEY_PREFIX": f"sepsms-tests-{os.getpid()}",
    }
}

SEPSMS = {
    "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
    "ORIGIN": "TESTSHOP",
    "WEBHOOK_SECRETS": ["whsec_test_current", "whsec_test_previous"],
    "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
    # Phone-flow answers wait for a floor (0.25 s by default): none in tests,
    # except those about timing, which set their own.
    "OTP_MIN_ANSWER_TIME": 0,
    # Tests send many codes nobody verifies: the pumping guard is on (with its
    # defaults) only where it is under test (tests/otp/test_pumping.py, the budgets).
    "PUMPING_GUARD": None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_sepsms": {"handlers": ["null"], "level": "DEBUG", "propagate": True}},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_sepsms.auth.PhoneBackend",
]
LOGIN_REDIRECT_URL = "/done/"

# Background delivery: Django 6's django.tasks, or the django-tasks backport on 5.2,
# with django-tasks-db's database queue for the worker tests.
try:
    import django.tasks  # noqa: F401

    _TASKS_PACKAGE = "django.tasks"
except ImportError:
    _TASKS_PACKAGE = "django_tasks"
    INSTALLED_APPS.append("django_tasks")
INSTALLED_APPS.append("django_tasks_db")
TASKS = {"default": {"BACKEND": f"{_TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}
