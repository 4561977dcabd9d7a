from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_sepsms.checks import check_deployment, check_settings

ROOT = Path(__file__).resolve().parent.parent
HTTP = "django_sepsms.backends.sepsms.SepsmsBackend"
LOCMEM = "django_sepsms.backends.locmem.LocmemBackend"
REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/15",
    }
}
GOOD: dict[str, Any] = {
    "BACKEND": HTTP,
    "API_KEY": "sk_sep_abc",
    "ORIGIN": "SHOP",
    "WEBHOOK_SECRETS": "whsec_x",
}


def ids(**sepsms: Any) -> list[str]:
    """The ids of every check, those of ``check --deploy`` included."""
    with override_settings(SEPSMS={**GOOD, **sepsms}, CACHES=REDIS):
        return [str(m.id) for m in check_settings() + check_deployment()]


def everyday_ids(**sepsms: Any) -> list[str]:
    """The ids of the checks that run before ``migrate``, ``shell`` or the tests."""
    with override_settings(SEPSMS={**GOOD, **sepsms}, CACHES=REDIS):
        return [str(m.id) for m in check_settings()]


def test_good_configuration_is_clean() -> None:
    assert ids() == []


def test_not_a_dict() -> None:
    with override_settings(SEPSMS=["x"]):
        assert [m.id for m in check_settings()] == ["sepsms.E000"]


def test_missing_api_key_with_http_backend() -> None:
    assert ids(API_KEY="") == ["sepsms.E001"]
    assert "sepsms.E001" not in ids(API_KEY="", BACKEND=LOCMEM)


def test_unusual_api_key_prefix() -> None:
    assert ids(API_KEY="legacy-token") == ["sepsms.W005"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://sepsms.com/api/v2", []),
        ("http://127.0.0.1:8025/api/v2", []),
        ("http://localhost:8025/api/v2", []),
        ("http://[::1]:8025/api/v2", []),
        ("http://sepsms.com/api/v2", ["sepsms.W007"]),
        ("sepsms.com/api/v2", ["sepsms.E016"]),
        ("ftp://sepsms.com/api/v2", ["sepsms.E016"]),
        ("https://", ["sepsms.E016"]),
        ("https://[::1/api", ["sepsms.E016"]),
        ("https://sepsms.com:99999/api/v2", ["sepsms.E016"]),
    ],
)
def test_base_url(url: str, expected: list[str]) -> None:
    assert ids(BASE_URL=url) == expected
    assert ids(BASE_URL=url, BACKEND=LOCMEM, ALLOW_LOCAL_BACKEND_IN_PRODUCTION=True) == []


@pytest.mark.parametrize(
    ("length", "ok"), [(4, False), (5, False), (6, True), (8, True), (9, False)]
)
def test_code_length(length: int, ok: bool) -> None:
    assert ("sepsms.E002" not in ids(OTP_CODE_LENGTH=length)) is ok


@pytest.mark.parametrize(("ttl", "ok"), [(59, False), (60, True), (600, True), (601, False)])
def test_ttl(ttl: int, ok: bool) -> None:
    assert ("sepsms.E003" not in ids(OTP_TTL=ttl)) is ok


def test_local_backend_without_debug_is_an_error_unless_allowed() -> None:
    with override_settings(DEBUG=False):
        assert "sepsms.E004" in ids(BACKEND=LOCMEM)
        assert "sepsms.E004" not in ids(BACKEND=LOCMEM, ALLOW_LOCAL_BACKEND_IN_PRODUCTION=True)
    with override_settings(DEBUG=True):
        assert "sepsms.E004" not in ids(BACKEND=LOCMEM)


def test_unimportable_backend() -> None:
    assert ids(BACKEND="nowhere.Backend") == ["sepsms.E005"]


def test_bad_mode_template_batch_attempts_region_tolerance() -> None:
    assert ids(OTP_MODE="sms") == ["sepsms.E006"]
    assert ids(BATCH_SIZE=0) == ["sepsms.E007"]
    assert ids(OTP_TEMPLATE="no placeholder") == ["sepsms.E008"]
    assert ids(OTP_MAX_ATTEMPTS=0) == ["sepsms.E010"]
    assert ids(OTP_MAX_ATTEMPTS=32768) == ["sepsms.E010"]
    assert ids(OTP_MAX_ATTEMPTS=32767) == []
    assert ids(PHONE_REGION="XX") == ["sepsms.E011"]
    assert ids(WEBHOOK_TOLERANCE=0) == ["sepsms.E012"]


def test_ratelimits() -> None:
    assert ids(RATELIMITS={"otp_send_phone": "3/10m", "otp_send_ip": None}) == []
    assert ids(RATELIMITS={"otp_send_phone": "three a minute"}) == ["sepsms.E009"]
    assert ids(RATELIMITS={"otp_send_phone": "3/10"}) == ["sepsms.E009"]
    assert ids(RATELIMITS={"unknown": "3/m"}) == ["sepsms.W006"]


def test_no_webhook_secret_warns_and_a_string_is_accepted() -> None:
    assert ids(WEBHOOK_SECRETS=[]) == ["sepsms.W001"]
    assert ids(WEBHOOK_SECRETS="whsec_one") == []


def test_missing_origin_and_unknown_keys_warn() -> None:
    assert ids(ORIGIN="") == ["sepsms.W004"]
    assert ids(API_KEYS="typo") == ["sepsms.W003"]


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
        "django.core.cache.backends.filebased.FileBasedCache",
        "django.core.cache.backends.db.DatabaseCache",
    ],
)
def test_cache_that_limits_cannot_rely_on(backend: str) -> None:
    with override_settings(SEPSMS=GOOD, CACHES={"default": {"BACKEND": backend, "LOCATION": "x"}}):
        assert [m.id for m in check_settings()] == ["sepsms.W002"]


def test_cache_alias_must_exist() -> None:
    assert ids(CACHE="limits") == ["sepsms.E013"]


@pytest.mark.django_db
def test_through_call_command() -> None:
    out = StringIO()
    with override_settings(SEPSMS=GOOD, CACHES=REDIS):
        call_command("check", "--fail-level", "WARNING", stdout=out)
    assert "no issues" in out.getvalue()
    with override_settings(SEPSMS={**GOOD, "API_KEY": ""}, CACHES=REDIS):
        call_command("check", stdout=StringIO(), stderr=StringIO())  # a deploy check
    with (
        override_settings(SEPSMS={**GOOD, "API_KEY": ""}, CACHES=REDIS),
        pytest.raises(SystemCheckError, match=r"sepsms\.E001"),
    ):
        call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())
    err = StringIO()
    with override_settings(SEPSMS={**GOOD, "WEBHOOK_SECRETS": []}, CACHES=REDIS):
        call_command("check", stdout=err, stderr=err)
    assert "sepsms.W001" in err.getvalue()


def test_what_only_a_live_site_needs_is_checked_on_deploy_only() -> None:
    assert everyday_ids(API_KEY="") == []
    assert everyday_ids(ORIGIN="") == []
    with override_settings(DEBUG=False):
        assert everyday_ids(BACKEND=LOCMEM) == []
    assert ids(API_KEY="", ORIGIN="") == ["sepsms.E001", "sepsms.W004"]
    # A configured value that is wrong is still reported at once.
    assert everyday_ids(API_KEY="legacy-token") == ["sepsms.W005"]
    assert everyday_ids(BASE_URL="sepsms.com/api/v2") == ["sepsms.E016"]


def test_the_deploy_checks_leave_broken_settings_to_the_others() -> None:
    with override_settings(SEPSMS=["x"]):
        assert check_deployment() == []
    assert ids(BACKEND="nowhere.Backend", API_KEY="") == ["sepsms.E005"]


try:
    import django.tasks  # noqa: F401

    TASKS_PACKAGE = "django.tasks"  # Django 6
except ImportError:
    TASKS_PACKAGE = "django_tasks"  # the backport on Django 5.2


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("backends.immediate.ImmediateBackend", ["sepsms.W008"]),  # Django 6's default TASKS
        ("backends.dummy.DummyBackend", []),
    ],
)
def test_tasks_on_a_backend_that_cannot_run_them_later(backend: str, expected: list[str]) -> None:
    tasks = {"default": {"BACKEND": f"{TASKS_PACKAGE}.{backend}"}}
    with override_settings(TASKS=tasks):
        assert ids(USE_TASKS=True) == expected
        assert ids(USE_TASKS=False) == []
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        assert ids(USE_TASKS=True) == []


def test_the_tasks_check_names_the_backend() -> None:
    tasks = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}
    with override_settings(SEPSMS={**GOOD, "USE_TASKS": True}, CACHES=REDIS, TASKS=tasks):
        (warning,) = check_settings()
    assert "'default' (ImmediateBackend) cannot run a task later" in warning.msg
    assert "recorded failed instead of tried again 30 seconds later" in (warning.hint or "")


def test_tasks_without_the_task_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "django.tasks", None)  # import fails
    monkeypatch.setitem(sys.modules, "django_tasks", None)
    assert ids(USE_TASKS=True) == ["sepsms.E017"]
    assert ids(USE_TASKS=False) == []


def test_a_task_backend_that_cannot_load_is_left_to_django() -> None:
    with override_settings(TASKS={"default": {"BACKEND": "nowhere.Backend"}}):
        assert ids(USE_TASKS=True) == []


def test_webhook_body_limit() -> None:
    assert ids(WEBHOOK_MAX_BODY_SIZE=100) == ["sepsms.E014"]


def test_trusted_proxies_must_be_addresses() -> None:
    assert ids(TRUSTED_PROXIES=["10.0.0.0/8", "127.0.0.1"]) == []
    assert ids(TRUSTED_PROXIES=["proxy.example.com"]) == ["sepsms.E015"]


def test_the_ratelimit_cache_is_checked_too() -> None:
    with override_settings(
        SEPSMS=GOOD,
        CACHES={**REDIS, "limits": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        RATELIMIT_USE_CACHE="limits",
    ):
        assert [m.id for m in check_settings()] == ["sepsms.W002"]


def run_python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in ``cwd``, with this checkout importable and no settings module set."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fresh_project(path: Path, settings: str) -> Path:
    """``django-admin startproject``, then the lines a newcomer adds to its settings."""
    created = run_python(path, "-m", "django", "startproject", "mysite", str(path))
    assert created.returncode == 0, created.stderr
    with (path / "mysite" / "settings.py").open("a", encoding="utf-8") as file:
        file.write('\nINSTALLED_APPS += ["django_sepsms"]\n' + settings)
    return path


#: Sends from ``manage.py shell``: first without a sender name, then with one.
SEND_TWICE = """
from django_sepsms import send_sms
from django_sepsms.exceptions import ConfigurationError
for origin in (None, "MYSHOP"):
    try:
        send_sms("Hi", ["0812345678"], origin=origin)
    except ConfigurationError as exc:
        print("refused:", exc)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("settings", "deploy_ids", "hint", "sent"),
    [
        # No SEPSMS dict at all: the HTTP backend, no key, no sender name.
        (
            "",
            {"sepsms.E001", "sepsms.W004"},
            "Create a key in the SEPSMS developer dashboard",
            'refused: SEPSMS["API_KEY"] is not set',
        ),
        # A local backend on a server with DEBUG off.
        (
            'DEBUG = False\nALLOWED_HOSTS = ["*"]\n'
            'SEPSMS = {"BACKEND": "django_sepsms.backends.console.ConsoleBackend"}\n',
            {"sepsms.E004", "sepsms.W004"},
            "ConsoleBackend delivers no SMS, and DEBUG is False.",
            "SMS from MYSHOP to 66812345678",
        ),
    ],
)
def test_a_fresh_project_migrates_before_it_is_configured(
    tmp_path: Path, settings: str, deploy_ids: set[str], hint: str, sent: str
) -> None:
    project = fresh_project(tmp_path, settings)
    for command in (
        ["migrate", "--no-input"],
        ["makemigrations", "--check", "--dry-run"],
        ["check"],
        ["shell", "-c", "import django_sepsms"],
        ["test"],
    ):
        done = run_python(project, "manage.py", *command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert not deploy_ids & set(re.findall(r"sepsms\.[EW]\d{3}", done.stderr)), command
    # What is missing is refused where sending needs it, saying what to set.
    shell = run_python(project, "manage.py", "shell", "-c", SEND_TWICE)
    assert shell.returncode == 0, shell.stderr
    assert 'refused: No sender name: pass origin= or set SEPSMS["ORIGIN"]' in shell.stdout
    assert sent in shell.stdout
    deploy = run_python(project, "manage.py", "check", "--deploy")
    assert deploy.returncode == 1
    assert "SystemCheckError" in deploy.stderr
    assert set(re.findall(r"sepsms\.[EW]\d{3}", deploy.stderr)) >= deploy_ids
    assert hint in deploy.stderr
