"""Settings of the site bench_peer.py serves: this app and django-phone-verify in one project.

Both apps get what a project would give them: Django's default middleware,
DRF, one PostgreSQL database and one cache (see sites.py). Neither sends an
SMS: this app uses its ``DummyBackend`` (``BENCH_SEPSMS_BACKEND`` may name
another), django-phone-verify ``peer_backend.SilentBackend``. This app's limits
are off (``RATELIMITS`` all ``None``, no resend cooldown, the pumping guard
counting but never judging) so that nothing is refused; ``BENCH_OTP_FLOOR``
sets ``OTP_MIN_ANSWER_TIME`` (unset: the default).
"""

from __future__ import annotations

import os

from benchmarks.sites import cache, database
from django_sepsms.conf import DEFAULT_RATELIMITS

SECRET_KEY = "bench-only-not-secret-but-long-enough-for-hs256-tokens"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "benchmarks.peer_site_urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "django_sepsms",
    "phone_verify",
]
# What django-admin startproject writes.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
DATABASES = {"default": database()}
CACHES = {"default": cache()}
LOGGING = {"version": 1, "disable_existing_loggers": False}

SEPSMS: dict[str, object] = {
    "BACKEND": os.environ.get("BENCH_SEPSMS_BACKEND", "django_sepsms.backends.dummy.DummyBackend"),
    "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
    "OTP_MODE": "local",
    "ORIGIN": "BENCH",
    "OTP_TEMPLATE": "code {code} ref {ref}",
    "RATELIMITS": dict.fromkeys(DEFAULT_RATELIMITS),
    "OTP_RESEND_COOLDOWN": 0,
    # The pumping guard counts every code as it would on a site, but never judges a
    # scope: a benchmark verifies none of its code requests, like an attack would.
    "PUMPING_GUARD": {"MIN_SENT": 10**9, "SITE_MIN_SENT": 10**9},
    # Codes made before a round must still be good when it checks them.
    "OTP_TTL": 3600,
}
if os.environ.get("BENCH_OTP_FLOOR"):
    SEPSMS["OTP_MIN_ANSWER_TIME"] = float(os.environ["BENCH_OTP_FLOOR"])

PHONENUMBER_DEFAULT_REGION = "TH"
PHONE_VERIFICATION = {
    "BACKEND": "benchmarks.peer_backend.SilentBackend",
    "OPTIONS": {},
    "TOKEN_LENGTH": 6,
    "MESSAGE": "code {security_code}",
    "APP_NAME": "BENCH",
    "SECURITY_CODE_EXPIRATION_SECONDS": 3600,
    # One check per code, as this app's codes.
    "VERIFY_SECURITY_CODE_ONLY_ONCE": True,
}
