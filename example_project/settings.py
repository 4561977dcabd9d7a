"""Settings of the example site: SQLite, no provider account needed.

Messages go to the console backend unless ``SEPSMS_BASE_URL`` points at a
provider, such as the simulator (``python manage.py sepsms_simulator``).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
USE_TZ = True
TIME_ZONE = "Asia/Bangkok"
LANGUAGE_CODE = "th"
LANGUAGES = [("th", "ไทย"), ("en", "English")]
USE_I18N = True
#: The site's own translations (its pages are Thai first); the app brings its own.
LOCALE_PATHS = [BASE_DIR / "locale"]
ROOT_URLCONF = "example_project.urls"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "sepsms:login"
LOGIN_REDIRECT_URL = "account"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_sepsms.auth.PhoneBackend",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_sepsms",
    "example_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "example_project.views.demo_context",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB", str(BASE_DIR / "db.sqlite3")),
    }
}

# The database cache is shared by every process of this site, which is all the
# example needs; production wants Redis (see the deployment docs).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "sepsms_cache",
    }
}
SILENCED_SYSTEM_CHECKS = ["sepsms.W002"]

_simulator = os.environ.get("SEPSMS_BASE_URL")
#: Where the simulator's inbox page is, to link to it (scripts/demo sets it).
SIMULATOR_INBOX_URL = os.environ.get("SEPSMS_SIMULATOR_INBOX", "")
SEPSMS = {
    "BACKEND": (
        "django_sepsms.backends.sepsms.SepsmsBackend"
        if _simulator
        else "django_sepsms.backends.console.ConsoleBackend"
    ),
    "BASE_URL": _simulator or "https://sepsms.com/api/v2",
    "API_KEY": os.environ.get("SEPSMS_API_KEY", "sk_sep_simulator"),
    "ORIGIN": "DEMOSHOP",
    "WEBHOOK_SECRETS": [os.environ.get("SEPSMS_WEBHOOK_SECRET", "whsec_example")],
    # The demo lets anyone sign up with a phone number.
    "LOGIN_CREATE_USERS": True,
}
