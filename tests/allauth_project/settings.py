"""The test suite's settings, with django-allauth's phone login (docs/allauth.rst)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import AUTHENTICATION_BACKENDS, DATABASES, INSTALLED_APPS, MIDDLEWARE

ROOT_URLCONF = "tests.allauth_project.urls"
# Beside the main run's database, which may be open while this run makes its own.
DATABASES["default"]["TEST"] = {
    **DATABASES["default"].get("TEST", {}),  # type: ignore[dict-item]
    "NAME": f"{DATABASES['default']['TEST']['NAME']}_allauth",  # type: ignore[index]
}

# --- settings ---
INSTALLED_APPS = [*INSTALLED_APPS, "allauth", "allauth.account"]
MIDDLEWARE = [*MIDDLEWARE, "allauth.account.middleware.AccountMiddleware"]
AUTHENTICATION_BACKENDS = [
    *AUTHENTICATION_BACKENDS,
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "tests.allauth_project.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"phone"}
ACCOUNT_SIGNUP_FIELDS = ["phone*"]
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
# --- end of settings ---
