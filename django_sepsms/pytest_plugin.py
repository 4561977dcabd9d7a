"""pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

``sms_outbox``
    The ``django_sepsms.outbox`` list, emptied before the test. Use it with the
    locmem backend (``SEPSMS["BACKEND"] = "django_sepsms.backends.locmem.LocmemBackend"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import django_sepsms


@pytest.fixture
def sms_outbox() -> Iterator[list[Any]]:
    """``django_sepsms.outbox``, empty at the start of the test."""
    django_sepsms.outbox.clear()
    yield django_sepsms.outbox
    django_sepsms.outbox.clear()
