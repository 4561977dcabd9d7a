"""``django_sepsms.contrib.allauth``: importable without allauth, and allauth's own
pages on it, in a project of their own (``tests/allauth_project``).

That project's INSTALLED_APPS differ from the suite's, so its tests run in a
pytest process of their own, on the same database server and cache.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone

from django_sepsms.models import PhoneNumber
from tests.first_hour import rst_blocks

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "tests" / "allauth_project"
HAS_ALLAUTH = importlib.util.find_spec("allauth") is not None


def test_the_module_imports_without_allauth(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "allauth" or n.startswith("allauth.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "allauth", None)  # import allauth: ImportError
    monkeypatch.delitem(sys.modules, "django_sepsms.contrib.allauth", raising=False)
    module = importlib.import_module("django_sepsms.contrib.allauth")
    assert module.SepsmsPhoneAdapterMixin.__name__ == "SepsmsPhoneAdapterMixin"
    monkeypatch.delitem(sys.modules, "django_sepsms.contrib.allauth")


def coverage_is_measured() -> bool:
    try:
        import coverage
    except ImportError:
        return False
    return coverage.Coverage.current() is not None


def section(path: Path, marker: str, end: str | None = None) -> str:
    """The lines of ``path`` after the line ``# --- marker ---`` (up to ``# --- end ---``)."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"# --- {marker} ---\n") + len(f"# --- {marker} ---\n")
    stop = text.index(f"# --- {end} ---", start) if end else len(text)
    return text[start:stop].strip("\n")


@pytest.mark.parametrize(
    ("caption", "path", "marker", "end"),
    [
        ("adapter.py", "adapter.py", "the adapter", None),
        ("settings.py", "settings.py", "settings", "end of settings"),
        ("tests.py", "example.py", "the example", None),
    ],
)
def test_the_docs_show_the_test_projects_code(
    caption: str, path: str, marker: str, end: str | None
) -> None:
    """docs/allauth.rst's blocks are the code the test project runs (its module path aside)."""
    (block,) = [b for b in rst_blocks(ROOT / "docs" / "allauth.rst") if b.caption == caption]
    tested = section(PROJECT / path, marker, end).replace("tests.allauth_project.", "myproject.")
    assert block.text == tested


def adapter() -> Any:
    from django_sepsms.contrib.allauth import SepsmsPhoneAdapterMixin

    request = RequestFactory().get("/")
    request.session = {}  # type: ignore[assignment]
    found = SepsmsPhoneAdapterMixin()
    found.request = request
    return found


def test_without_allauth_in_installed_apps_nothing_is_checked() -> None:
    from django_sepsms.contrib.allauth import check_allauth_settings

    assert check_allauth_settings() == []


@pytest.mark.django_db
def test_a_number_lives_in_phone_number_once_verified(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("somchai")
    hooks = adapter()
    hooks.set_phone(user, "+66812345678", False)
    assert hooks.get_phone(user) == ("+66812345678", False)
    assert not PhoneNumber.objects.exists()
    assert hooks.get_user_by_phone("+66812345678") is None  # not proved: no login

    hooks.set_phone_verified(user, "+66812345678")
    assert hooks.get_phone(user) == ("+66812345678", True)
    assert hooks.get_user_by_phone("081-234-5678") == user
    assert list(PhoneNumber.objects.values_list("user_id", "phone")) == [(user.pk, "66812345678")]


@pytest.mark.django_db
def test_an_odd_number_finds_nobody(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("somchai")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    assert adapter().get_user_by_phone("not a number") is None
    assert adapter().get_user_by_phone("+12025550123") is None


@pytest.mark.slow
@pytest.mark.skipif(not HAS_ALLAUTH, reason="django-allauth is not installed")
def test_allauths_pages_on_the_mixin() -> None:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable]
    if coverage_is_measured():  # the process's lines count in the run's coverage
        command += ["-m", "coverage", "run", "--parallel-mode", "--rcfile=pyproject.toml"]
    command += [
        "-m",
        "pytest",
        "tests/allauth_project/flows.py",
        "tests/allauth_project/example.py",
        "--ds=tests.allauth_project.settings",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    run = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]
    assert " passed" in run.stdout
    assert "failed" not in run.stdout
