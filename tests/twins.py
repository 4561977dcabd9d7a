"""The async twins go through the very tests of their sync originals.

A test module hands its namespace and the twins of the names it calls::

    _callers = sync_and_async(globals(), send_otp=asend_otp, verify_otp=averify_otp)

and every test of the module runs twice: ``[sync]`` as written, ``[async]`` with
each name bound to its twin, awaited with ``async_to_sync``. That runs the twin
in an event loop of its own, while the twin's sync work comes back to the test's
thread (``thread_sensitive=True``): the test's database transaction, its
``override_settings`` and its fixtures hold for both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest
from asgiref.sync import async_to_sync


def sync_and_async(
    namespace: MutableMapping[str, Any], **twins: Callable[..., Awaitable[Any]]
) -> Any:
    """An autouse fixture that runs each test with the sync names, then with their twins."""

    @pytest.fixture(autouse=True, params=["sync", "async"])
    def caller(request: pytest.FixtureRequest) -> Iterator[str]:
        saved = {name: namespace[name] for name in twins}
        if request.param == "async":
            namespace.update({name: async_to_sync(twin) for name, twin in twins.items()})
        try:
            yield request.param
        finally:
            namespace.update(saved)

    return caller
