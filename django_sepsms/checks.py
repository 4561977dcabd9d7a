"""System checks for the ``SEPSMS`` settings. Each id is stable and documented.

:func:`check_settings` runs before most commands; :func:`check_deployment`
only under ``manage.py check --deploy``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from . import contract
from .backends.base import LocalBackend
from .backends.sepsms import SepsmsBackend
from .conf import DEFAULT_RATELIMITS, MIN_OTP_CODE_LENGTH, otp_code_length, sepsms_settings
from .otp.pumping import check_guard_settings

#: Caches each process keeps to itself: limits kept in them do not hold.
_PROCESS_LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}
#: Caches shared by processes but without atomic increments: limits leak under load.
_NON_ATOMIC_CACHES = {
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.db.DatabaseCache",
}
_RATE_UNITS = {"s", "m", "h", "d"}
#: The task backend that delivery tasks are queued on (``sending.tasks``).
_TASK_BACKEND = "default"


def _backend_class() -> type | None:
    try:
        klass = import_string(sepsms_settings.BACKEND)
    except ImportError:
        return None
    return klass if isinstance(klass, type) else None


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``settings.SEPSMS``."""
    raw = getattr(settings, "SEPSMS", {})
    if not isinstance(raw, Mapping):
        return [
            Error(
                "SEPSMS must be a dict.",
                hint="See the settings reference in the django-sepsms docs.",
                id="sepsms.E000",
            )
        ]
    messages: list[CheckMessage] = []
    messages += _check_backend()
    messages += _check_otp()
    messages += _check_numbers()
    messages += _check_webhooks()
    messages += _check_ratelimits()
    messages += _check_cache()
    messages += _check_proxies()
    messages += _check_tasks()
    messages += _check_allauth()
    messages += check_guard_settings()
    unknown = sepsms_settings.unknown_keys()
    if unknown:
        messages.append(
            Warning(
                f"Unknown SEPSMS setting(s): {', '.join(unknown)}.",
                hint="Check the spelling against the settings reference.",
                id="sepsms.W003",
            )
        )
    return messages


def _check_allauth() -> list[CheckMessage]:
    """sepsms.W009 and sepsms.W010: allauth's settings, when its adapter uses ours."""
    from .contrib.allauth import check_allauth_settings

    return check_allauth_settings()


def _check_backend() -> list[CheckMessage]:
    klass = _backend_class()
    if klass is None:
        return [
            Error(
                f"SEPSMS['BACKEND'] = {sepsms_settings.BACKEND!r} cannot be imported.",
                hint="Use a dotted path such as 'django_sepsms.backends.sepsms.SepsmsBackend'.",
                id="sepsms.E005",
            )
        ]
    messages: list[CheckMessage] = []
    if issubclass(klass, SepsmsBackend):
        key = sepsms_settings.API_KEY
        if key and not key.startswith(contract.API_KEY_PREFIX):
            messages.append(
                Warning(
                    f"SEPSMS['API_KEY'] does not start with '{contract.API_KEY_PREFIX}'.",
                    hint="SEPSMS v2 keys start with 'sk_sep_'; legacy v1 tokens do not work.",
                    id="sepsms.W005",
                )
            )
        messages += _check_base_url(sepsms_settings.BASE_URL)
    if sepsms_settings.BATCH_SIZE < 1:
        messages.append(Error("SEPSMS['BATCH_SIZE'] must be at least 1.", id="sepsms.E007"))
    return messages


@register(Tags.compatibility, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """What a live site needs of ``settings.SEPSMS`` (``manage.py check --deploy``).

    A key, a sender name and a backend that delivers: none of them is needed
    to migrate, open a shell or run tests, so they never stop those commands.
    """
    klass = _backend_class()
    if not isinstance(getattr(settings, "SEPSMS", {}), Mapping) or klass is None:
        return []  # sepsms.E000 or sepsms.E005 says what is wrong
    messages: list[CheckMessage] = []
    if issubclass(klass, SepsmsBackend) and not sepsms_settings.API_KEY:
        messages.append(
            Error(
                "SEPSMS['API_KEY'] is not set, and the HTTP backend needs it to send.",
                hint="Create a key in the SEPSMS developer dashboard (it starts with "
                "'sk_sep_') and load it from the environment. In development, use "
                "'django_sepsms.backends.console.ConsoleBackend' or the simulator.",
                id="sepsms.E001",
            )
        )
    if (
        issubclass(klass, LocalBackend)
        and not settings.DEBUG
        and not sepsms_settings.ALLOW_LOCAL_BACKEND_IN_PRODUCTION
    ):
        messages.append(
            Error(
                f"{klass.__name__} delivers no SMS, and DEBUG is False.",
                hint="Use the HTTP backend in production, or set "
                "SEPSMS['ALLOW_LOCAL_BACKEND_IN_PRODUCTION'] = True if this is intended.",
                id="sepsms.E004",
            )
        )
    if not sepsms_settings.ORIGIN:
        messages.append(
            Warning(
                "SEPSMS['ORIGIN'] is not set: every send must pass origin=, and codes "
                "cannot be sent.",
                hint="Set it to a sender name the provider approved for your account.",
                id="sepsms.W004",
            )
        )
    return messages


def _check_otp() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    length = sepsms_settings.OTP_CODE_LENGTH
    if otp_code_length(length) != length:
        low, high = MIN_OTP_CODE_LENGTH, contract.OTP_CODE_LENGTH_RANGE[1]
        messages.append(
            Error(
                f"SEPSMS['OTP_CODE_LENGTH'] is {length}; it must be {low} to {high}.",
                hint="Codes shorter than 6 digits are too easy to guess (NIST SP 800-63B).",
                id="sepsms.E002",
            )
        )
    ttl = sepsms_settings.OTP_TTL
    low, high = contract.OTP_TTL_RANGE
    if not low <= ttl <= high:
        messages.append(
            Error(
                f"SEPSMS['OTP_TTL'] is {ttl}; it must be {low} to {high} seconds.",
                hint="The provider accepts 60-600 seconds.",
                id="sepsms.E003",
            )
        )
    if sepsms_settings.OTP_MODE not in {"provider", "local"}:
        messages.append(
            Error(
                f"SEPSMS['OTP_MODE'] is {sepsms_settings.OTP_MODE!r}.",
                hint="Use 'provider' or 'local'.",
                id="sepsms.E006",
            )
        )
    if contract.OTP_CODE_PLACEHOLDER not in sepsms_settings.OTP_TEMPLATE:
        messages.append(
            Error(
                "SEPSMS['OTP_TEMPLATE'] does not contain {code}.",
                id="sepsms.E008",
            )
        )
    if not 1 <= sepsms_settings.OTP_MAX_ATTEMPTS <= 32767:
        messages.append(
            Error(
                "SEPSMS['OTP_MAX_ATTEMPTS'] must be from 1 to 32767 (a code's tries are "
                "stored in a small integer).",
                id="sepsms.E010",
            )
        )
    return messages


def _check_numbers() -> list[CheckMessage]:
    region = sepsms_settings.PHONE_REGION
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return [
            Error(
                f"SEPSMS['PHONE_REGION'] = {region!r} is not a region code.",
                hint="Use a two-letter region such as 'TH'.",
                id="sepsms.E011",
            )
        ]
    return []


def _check_webhooks() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not sepsms_settings.WEBHOOK_SECRETS:
        messages.append(
            Warning(
                "SEPSMS['WEBHOOK_SECRETS'] is empty: every webhook will be refused.",
                hint="Copy the signing secret from the provider's dashboard.",
                id="sepsms.W001",
            )
        )
    if sepsms_settings.WEBHOOK_MAX_BODY_SIZE < 1024:
        messages.append(
            Error(
                "SEPSMS['WEBHOOK_MAX_BODY_SIZE'] must be at least 1024 bytes.",
                hint="Delivery reports are a few hundred bytes; the default is 65536.",
                id="sepsms.E014",
            )
        )
    if sepsms_settings.WEBHOOK_TOLERANCE <= 0:
        messages.append(
            Error(
                "SEPSMS['WEBHOOK_TOLERANCE'] must be a positive number of seconds.",
                id="sepsms.E012",
            )
        )
    return messages


def _valid_rate(rate: Any) -> bool:
    if rate is None:
        return True
    if not isinstance(rate, str) or "/" not in rate:
        return False
    count, _, period = rate.partition("/")
    if not count.isdigit() or not period or period[-1] not in _RATE_UNITS:
        return False
    return period[:-1] == "" or period[:-1].isdigit()


def _check_ratelimits() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, rate in sepsms_settings.RATELIMITS.items():
        if name not in DEFAULT_RATELIMITS:
            messages.append(
                Warning(
                    f"SEPSMS['RATELIMITS'] has an unknown limit {name!r}.",
                    hint=f"Known limits: {', '.join(sorted(DEFAULT_RATELIMITS))}.",
                    id="sepsms.W006",
                )
            )
        elif not _valid_rate(rate):
            messages.append(
                Error(
                    f"SEPSMS['RATELIMITS'][{name!r}] = {rate!r} is not a rate.",
                    hint="Use django-ratelimit rates such as '3/10m', '10/h' or '100/d', "
                    "or None to turn the limit off.",
                    id="sepsms.E009",
                )
            )
    return messages


def _check_proxies() -> list[CheckMessage]:
    bad = []
    for value in sepsms_settings.TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            bad.append(value)
    if bad:
        return [
            Error(
                f"SEPSMS['TRUSTED_PROXIES'] has entries that are not addresses: {bad!r}.",
                hint="Use IP addresses or networks such as '10.0.0.0/8'.",
                id="sepsms.E015",
            )
        ]
    return []


def _task_backends() -> Any:
    """Django's task backends (``django.tasks``, or the backport), or None without either."""
    try:
        from django.tasks import (  # type: ignore[import-not-found,unused-ignore]
            task_backends,  # an optional dependency: Django 6
        )
    except ImportError:
        try:
            from django_tasks import (  # type: ignore[no-redef,assignment,unused-ignore]
                task_backends,  # an optional dependency: the backport on Django 5.2
            )
        except ImportError:
            return None
    return task_backends


def _check_tasks() -> list[CheckMessage]:
    if not sepsms_settings.USE_TASKS:
        return []
    backends = _task_backends()
    if backends is None:
        return [
            Error(
                "SEPSMS['USE_TASKS'] is on, but Django's task framework is not installed.",
                hint='Use Django 6, or on Django 5.2 pip install "django-sepsms[tasks]" and '
                'add "django_tasks" to INSTALLED_APPS.',
                id="sepsms.E017",
            )
        ]
    try:
        backend = backends[_TASK_BACKEND]
    except Exception:
        return []  # Django's own checks of TASKS say what is wrong
    if getattr(backend, "supports_defer", False):
        return []
    return [
        Warning(
            f"SEPSMS['USE_TASKS'] is on, but the task backend {_TASK_BACKEND!r} "
            f"({type(backend).__name__}) cannot run a task later.",
            hint="A batch stopped by a passing error (no connection, over the provider's "
            "rate) is then recorded failed instead of tried again 30 seconds later, and an "
            "immediate backend sends inside the request. Use a queue with workers, such as "
            "django-tasks-db's DatabaseBackend, or turn USE_TASKS off.",
            id="sepsms.W008",
        )
    ]


def _check_base_url(url: str) -> list[CheckMessage]:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        host = ""
    if not host or parts.scheme not in ("http", "https"):
        return [
            Error(
                f"SEPSMS['BASE_URL'] = {url!r} is not an http(s) URL.",
                hint=f"Leave it unset for {contract.DEFAULT_BASE_URL}, or point it at the "
                "simulator, e.g. 'http://127.0.0.1:8025/api/v2'.",
                id="sepsms.E016",
            )
        ]
    if parts.scheme == "http" and not _is_loopback(host):
        return [
            Warning(
                f"SEPSMS['BASE_URL'] sends the API key to {host} unencrypted (http).",
                hint="Use https:// for anything but a simulator on this machine.",
                id="sepsms.W007",
            )
        ]
    return []


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_cache() -> list[CheckMessage]:
    caches = getattr(settings, "CACHES", {})
    messages: list[CheckMessage] = []
    for alias in dict.fromkeys(
        [sepsms_settings.CACHE, getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    ):
        messages += _check_cache_alias(caches, alias)
    return messages


def _check_cache_alias(caches: dict[str, Any], alias: str) -> list[CheckMessage]:
    if alias not in caches:
        return [
            Error(
                f"The cache {alias!r} (SEPSMS['CACHE'] or RATELIMIT_USE_CACHE) is not in CACHES.",
                id="sepsms.E013",
            )
        ]
    backend = caches[alias].get("BACKEND", "")
    if backend in _PROCESS_LOCAL_CACHES:
        return [
            Warning(
                f"The cache {alias!r} ({backend.rsplit('.', 1)[-1]}) is not shared across "
                "processes: OTP and sending limits would not hold.",
                hint="Use Redis or Memcached in production (SEPSMS['CACHE'] picks the alias).",
                id="sepsms.W002",
            )
        ]
    if backend in _NON_ATOMIC_CACHES:
        return [
            Warning(
                f"The cache {alias!r} ({backend.rsplit('.', 1)[-1]}) has no atomic "
                "increment: limits may be exceeded under concurrent load.",
                hint="Use Redis or Memcached in production.",
                id="sepsms.W002",
            )
        ]
    return []
