"""The documentation keeps up with the code: every setting, check, signal,
backend and management command is documented, and the docs build cleanly."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from django.dispatch import Signal

import django_sepsms
from django_sepsms import signals
from django_sepsms.backends.base import BaseBackend
from django_sepsms.conf import DEFAULT_PUMPING_GUARD, DEFAULT_RATELIMITS, DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = Path(django_sepsms.__file__).resolve().parent


def read_doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def all_docs_text() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted(DOCS.rglob("*.rst"))
        if "_build" not in path.relative_to(DOCS).parts
    )


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_setting_is_documented(key: str) -> None:
    assert f"``{key}``" in read_doc("settings.rst")


@pytest.mark.parametrize("name", sorted(DEFAULT_RATELIMITS))
def test_every_rate_limit_is_documented(name: str) -> None:
    assert f"``{name}``" in read_doc("settings.rst")


@pytest.mark.parametrize("name", sorted(DEFAULT_PUMPING_GUARD))
def test_every_pumping_guard_setting_is_documented(name: str) -> None:
    assert f"``{name}``" in read_doc("settings.rst")
    assert f"``{name}``" in read_doc("pumping.rst")


def check_ids() -> list[str]:
    sources = [PACKAGE / "checks.py", PACKAGE / "otp" / "pumping.py"]
    source = "".join(path.read_text(encoding="utf-8") for path in sources)
    return sorted(set(re.findall(r"sepsms\.[EW]\d{3}", source)))


def test_check_ids_are_found() -> None:
    assert "sepsms.E001" in check_ids()


@pytest.mark.parametrize("check_id", check_ids())
def test_every_check_is_documented(check_id: str) -> None:
    assert f"``{check_id}``" in read_doc("checks.rst")


def signal_names() -> list[str]:
    return sorted(name for name, value in vars(signals).items() if isinstance(value, Signal))


@pytest.mark.parametrize("name", signal_names())
def test_every_signal_is_documented(name: str) -> None:
    assert f"``{name}``" in read_doc("signals.rst")


def backend_paths() -> list[str]:
    import django_sepsms.backends as package

    paths = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseBackend)
                and value.__module__ == module.__name__
                and not name.startswith("_")
                and module.__name__ != "django_sepsms.backends.base"
            ):
                paths.append(f"{module.__name__}.{name}")
    return sorted(paths)


def test_the_shipped_backends_are_found() -> None:
    assert set(backend_paths()) >= {
        "django_sepsms.backends.console.ConsoleBackend",
        "django_sepsms.backends.dummy.DummyBackend",
        "django_sepsms.backends.locmem.LocmemBackend",
        "django_sepsms.backends.sepsms.SepsmsBackend",
    }


@pytest.mark.parametrize("path", backend_paths())
def test_every_backend_is_documented(path: str) -> None:
    assert f"``{path}``" in read_doc("backends.rst")


def test_every_management_command_is_documented() -> None:
    # Globbed at test time: commands added later must be documented too.
    commands = sorted(
        path.stem
        for path in (PACKAGE / "management" / "commands").glob("*.py")
        if not path.name.startswith("_")
    )
    text = all_docs_text()
    missing = [name for name in commands if name not in text]
    assert not missing, f"Undocumented management commands: {', '.join(missing)}"


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    from sphinx.cmd.build import build_main

    status = build_main(["-W", "--keep-going", "-b", "html", "-q", str(DOCS), str(tmp_path)])
    assert status == 0


def threat_table_tests() -> list[str]:
    section = read_doc("security.rst").split(".. _security-threats:")[1]
    return sorted(set(re.findall(r"``(test_\w+\.py::\w+)``", section)))


def test_the_threat_table_names_tests() -> None:
    assert len(threat_table_tests()) > 30


@pytest.mark.parametrize("name", threat_table_tests())
def test_every_test_in_the_threat_table_exists(name: str) -> None:
    module, function = name.split("::")
    (path,) = (ROOT / "tests").rglob(module)  # in the folder of its capability
    source = path.read_text(encoding="utf-8")
    assert re.search(rf"^def {function}\(", source, re.MULTILINE), name
