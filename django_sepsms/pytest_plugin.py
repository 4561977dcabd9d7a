"""pytest plugin (registered through the ``pytest11`` entry point).

It does for SMS what Django's test runner does for mail: for the whole run the
``SEPSMS`` setting gets the locmem backend (:func:`~django_sepsms.testing.locmem_settings`),
and every test starts with an empty ``django_sepsms.outbox``. Nothing in the
settings needs to change; an ``override_settings(SEPSMS=...)`` in a test, a
class or the ``settings`` fixture still wins.

Opting out:

- ``@pytest.mark.sepsms_real_backend`` keeps the settings' own ``SEPSMS`` for
  one test (or a class, or a module with ``pytestmark``);
- ``sepsms_locmem = false`` in the ini options (``[tool.pytest.ini_options]``,
  ``pytest.ini``) or ``-o sepsms_locmem=false`` turns the backend swap off for
  the whole run; the outbox is still emptied before each test.

Fixtures:

``sms_outbox``
    The ``django_sepsms.outbox`` list, emptied before and after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

import django_sepsms

from .testing import locmem_settings

#: The marker of tests that keep the settings' own ``SEPSMS``.
REAL_BACKEND_MARKER = "sepsms_real_backend"
#: The ini option that turns the locmem backend off for the whole run.
LOCMEM_INI = "sepsms_locmem"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``sepsms_locmem`` ini option."""
    parser.addini(
        LOCMEM_INI,
        "Give every test django-sepsms's locmem backend (default: true).",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``sepsms_real_backend`` marker."""
    config.addinivalue_line(
        "markers",
        f"{REAL_BACKEND_MARKER}: keep the SEPSMS setting's own backend for this test "
        "(django-sepsms gives every other test the locmem backend)",
    )


class _Swap:
    """The ``SEPSMS`` setting the run had, and the one it got for its tests."""

    def __init__(self, original: Any, installed: dict[str, Any]) -> None:
        self.original = original
        self.installed = installed


@pytest.fixture(scope="session", autouse=True)
def _sepsms_locmem_backend(request: pytest.FixtureRequest) -> Iterator[_Swap | None]:
    """The locmem backend for the whole run, as Django's test runner swaps in
    the locmem email backend: every override inside it wins."""
    if not request.config.getini(LOCMEM_INI) or not settings.configured:
        yield None
        return
    original = getattr(settings, "SEPSMS", {})  # none at all reads as {}: the defaults
    installed = locmem_settings(original)
    with override_settings(SEPSMS=installed):
        yield _Swap(original, installed)


@pytest.fixture(autouse=True)
def _sepsms_test_outbox(
    request: pytest.FixtureRequest, _sepsms_locmem_backend: _Swap | None
) -> Iterator[None]:
    """An empty outbox for each test; the settings' own backend for a test marked
    ``sepsms_real_backend`` (unless something already overrode ``SEPSMS``)."""
    django_sepsms.outbox.clear()
    swap = _sepsms_locmem_backend
    real = request.node.get_closest_marker(REAL_BACKEND_MARKER) is not None
    if real and swap is not None and getattr(settings, "SEPSMS", None) is swap.installed:
        with override_settings(SEPSMS=swap.original):
            yield
    else:
        yield
    django_sepsms.outbox.clear()


@pytest.fixture
def sms_outbox() -> Iterator[list[Any]]:
    """``django_sepsms.outbox``, empty at the start of the test."""
    django_sepsms.outbox.clear()
    yield django_sepsms.outbox
    django_sepsms.outbox.clear()
