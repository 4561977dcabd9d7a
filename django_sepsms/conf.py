"""The ``SEPSMS`` settings dict, read live on every access.

``sepsms_settings.OTP_TTL`` reads ``settings.SEPSMS["OTP_TTL"]`` (or its default)
each time, so ``override_settings`` works without any cache to clear.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache
from django.core.cache.backends.redis import RedisCache

from . import contract

#: The shortest OTP code this app makes or asks for, whatever the provider
#: allows (its range is ``contract.OTP_CODE_LENGTH_RANGE``): shorter codes are
#: too easy to guess (NIST SP 800-63B).
MIN_OTP_CODE_LENGTH = 6

#: Every recognised key with its default. docs/settings.rst documents each one
#: (a test keeps the two in step).
DEFAULTS: dict[str, Any] = {
    "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend",
    "API_KEY": "",
    "BASE_URL": contract.DEFAULT_BASE_URL,
    "ORIGIN": "",
    "TIMEOUT": 10,
    "CONNECT_TIMEOUT": 5,
    "BATCH_SIZE": contract.DEFAULT_BATCH_SIZE,
    "SEND_CONCURRENCY": 2,
    "MAX_RETRIES": 3,
    "MAX_RETRY_WAIT": 30,
    "THROTTLE": True,
    "WEBHOOK_SECRETS": [],
    "WEBHOOK_TOLERANCE": contract.DEFAULT_WEBHOOK_TOLERANCE,
    "WEBHOOK_MAX_BODY_SIZE": 64 * 1024,
    "OTP_MODE": "provider",
    "OTP_TTL": contract.OTP_TTL_DEFAULT,
    "OTP_CODE_LENGTH": 6,
    "OTP_MAX_ATTEMPTS": 5,
    "OTP_RESEND_COOLDOWN": 60,
    "OTP_TEMPLATE": "รหัสยืนยันของคุณคือ {code} (Ref: {ref})",
    "OTP_MIN_ANSWER_TIME": 0.25,
    "RATELIMITS": {},
    "LOGIN_CREATE_USERS": False,
    "TRUSTED_PROXIES": [],
    "API_TOKEN_MAX_AGE": 600,
    "PHONE_REGION": "TH",
    "PHONE_ALLOWED_PREFIXES": [contract.COUNTRY_CODE + p for p in contract.MOBILE_PREFIXES],
    "CACHE": "default",
    "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": False,
    "USE_TASKS": False,
    "PUMPING_GUARD": {},
}

#: Default rates (django-ratelimit rate strings) merged under ``RATELIMITS``.
DEFAULT_RATELIMITS: dict[str, str] = {
    # codes sent to one number
    "otp_send_phone": "3/10m",
    "otp_send_phone_daily": "10/d",
    # codes requested from one client IP
    "otp_send_ip": "20/h",
    # all codes the site sends: protects the credit budget against SMS pumping
    "otp_send_global": "500/h",
    # wrong codes for one number, across every reference sent to it
    "otp_verify_phone": "10/h",
    # verification attempts from one client IP
    "otp_verify_ip": "60/h",
}


#: The pumping guard's defaults (docs/pumping.rst), merged under ``PUMPING_GUARD``.
DEFAULT_PUMPING_GUARD: dict[str, int | float] = {
    # minutes of history the conversion is measured over (one bucket a minute)
    "WINDOW_MINUTES": 10,
    # digits after the country code that name a number's range ("6681")
    "PREFIX_DIGITS": 2,
    # codes verified / codes sent below which a scope is suspected
    "MIN_CONVERSION": 0.2,
    # codes a range must have sent in the window before it can be suspected
    "MIN_SENT": 10,
    # codes a minute a suspected range still sends
    "TIGHTENED_PER_MINUTE": 2,
    # the same two for the whole site
    "SITE_MIN_SENT": 30,
    "SITE_TIGHTENED_PER_MINUTE": 5,
}


class SepsmsSettings:
    """Typed, live view of ``settings.SEPSMS`` merged over :data:`DEFAULTS`."""

    @property
    def user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, "SEPSMS", None)
        return value if isinstance(value, Mapping) else {}

    def get(self, key: str) -> Any:
        if key not in DEFAULTS:
            raise AttributeError(f"Unknown SEPSMS setting {key!r}")
        return self.user_settings.get(key, DEFAULTS[key])

    def unknown_keys(self) -> list[str]:
        return sorted(k for k in self.user_settings if k not in DEFAULTS)

    @property
    def BACKEND(self) -> str:
        return str(self.get("BACKEND"))

    @property
    def API_KEY(self) -> str:
        return str(self.get("API_KEY") or "")

    @property
    def BASE_URL(self) -> str:
        return str(self.get("BASE_URL")).rstrip("/")

    @property
    def ORIGIN(self) -> str:
        return str(self.get("ORIGIN") or "")

    @property
    def TIMEOUT(self) -> float:
        return float(self.get("TIMEOUT"))

    @property
    def CONNECT_TIMEOUT(self) -> float:
        return float(self.get("CONNECT_TIMEOUT"))

    @property
    def BATCH_SIZE(self) -> int:
        return int(self.get("BATCH_SIZE"))

    @property
    def SEND_CONCURRENCY(self) -> int:
        return int(self.get("SEND_CONCURRENCY"))

    @property
    def MAX_RETRIES(self) -> int:
        return int(self.get("MAX_RETRIES"))

    @property
    def MAX_RETRY_WAIT(self) -> float:
        return float(self.get("MAX_RETRY_WAIT"))

    @property
    def THROTTLE(self) -> bool:
        return bool(self.get("THROTTLE"))

    @property
    def WEBHOOK_SECRETS(self) -> list[str]:
        value = self.get("WEBHOOK_SECRETS")
        if isinstance(value, str):
            value = [value]
        return [str(s) for s in (value or []) if s]

    @property
    def WEBHOOK_TOLERANCE(self) -> int:
        return int(self.get("WEBHOOK_TOLERANCE"))

    @property
    def WEBHOOK_MAX_BODY_SIZE(self) -> int:
        return int(self.get("WEBHOOK_MAX_BODY_SIZE"))

    @property
    def OTP_MODE(self) -> str:
        return str(self.get("OTP_MODE"))

    @property
    def OTP_TTL(self) -> int:
        return int(self.get("OTP_TTL"))

    @property
    def OTP_CODE_LENGTH(self) -> int:
        return int(self.get("OTP_CODE_LENGTH"))

    @property
    def otp_code_length(self) -> int:
        """``OTP_CODE_LENGTH`` kept within what this app and the provider accept."""
        return otp_code_length(self.OTP_CODE_LENGTH)

    @property
    def OTP_MAX_ATTEMPTS(self) -> int:
        return int(self.get("OTP_MAX_ATTEMPTS"))

    @property
    def OTP_RESEND_COOLDOWN(self) -> int:
        return int(self.get("OTP_RESEND_COOLDOWN"))

    @property
    def OTP_TEMPLATE(self) -> str:
        return str(self.get("OTP_TEMPLATE"))

    @property
    def OTP_MIN_ANSWER_TIME(self) -> float:
        """Seconds every code request and code check of the phone flows takes at least."""
        return max(0.0, float(self.get("OTP_MIN_ANSWER_TIME")))

    @property
    def RATELIMITS(self) -> dict[str, str | None]:
        merged: dict[str, str | None] = dict(DEFAULT_RATELIMITS)
        merged.update(self.get("RATELIMITS") or {})
        return merged

    @property
    def LOGIN_CREATE_USERS(self) -> bool:
        return bool(self.get("LOGIN_CREATE_USERS"))

    @property
    def TRUSTED_PROXIES(self) -> list[str]:
        return [str(p) for p in (self.get("TRUSTED_PROXIES") or [])]

    @property
    def API_TOKEN_MAX_AGE(self) -> int:
        return int(self.get("API_TOKEN_MAX_AGE"))

    @property
    def PHONE_REGION(self) -> str:
        return str(self.get("PHONE_REGION")).upper()

    @property
    def PHONE_ALLOWED_PREFIXES(self) -> tuple[str, ...]:
        value = self.get("PHONE_ALLOWED_PREFIXES")
        if value is None:
            return ()
        return tuple(str(p).lstrip("+") for p in value)

    @property
    def CACHE(self) -> str:
        return str(self.get("CACHE"))

    @property
    def USE_TASKS(self) -> bool:
        return bool(self.get("USE_TASKS"))

    @property
    def PUMPING_GUARD(self) -> dict[str, Any] | None:
        """The pumping guard's settings over :data:`DEFAULT_PUMPING_GUARD`; ``None``: off."""
        value = self.get("PUMPING_GUARD")
        if value is None:
            return None
        merged: dict[str, Any] = dict(DEFAULT_PUMPING_GUARD)
        merged.update(value if isinstance(value, Mapping) else {})
        return merged

    @property
    def ALLOW_LOCAL_BACKEND_IN_PRODUCTION(self) -> bool:
        return bool(self.get("ALLOW_LOCAL_BACKEND_IN_PRODUCTION"))


sepsms_settings = SepsmsSettings()


def otp_code_length(requested: int) -> int:
    """``requested`` moved into ``MIN_OTP_CODE_LENGTH`` .. the provider's longest."""
    return min(contract.OTP_CODE_LENGTH_RANGE[1], max(MIN_OTP_CODE_LENGTH, int(requested)))


#: One Redis client for each of Django's Redis cache clients (see :func:`redis_client`).
_redis_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def redis_client(cache: BaseCache) -> Any:
    """The ``redis.Redis`` client behind Django's Redis ``cache``, or ``None`` for another cache.

    Django's Redis cache builds a new client object for every command (about as
    much work as the command itself); this one is built once per cache client and
    shares its connection pool (redis-py's clients are thread-safe). Keys must be
    made with ``cache.make_key()`` and values with the cache's serializer.
    """
    if not isinstance(cache, RedisCache):
        return None
    backend = cache._cache
    client = _redis_clients.get(backend)
    if client is None:
        client = _redis_clients[backend] = backend.get_client(None, write=True)
    return client
