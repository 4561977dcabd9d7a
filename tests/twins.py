"""The async twins, and Django's ASGI handler, go through the very tests of the sync code.

A test module hands its namespace and the twins of the names it calls::

    _callers = sync_and_async(globals(), send_otp=asend_otp, verify_otp=averify_otp)

and every test of the module runs twice: ``[sync]`` as written, ``[async]`` with
each name bound to its twin, awaited with ``async_to_sync``. That runs the twin
in an event loop of its own, while the twin's sync work comes back to the test's
thread (``thread_sensitive=True``): the test's database transaction, its
``override_settings`` and its fixtures hold for both. :func:`wsgi_and_asgi` does
the same for the test client: each page test runs through the WSGI handler, then
through the ASGI one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient


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


#: The request methods of Django's test client.
_REQUESTS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "generic"})


class _AddressedClient(AsyncClient):
    """An ``AsyncClient`` whose requests come from ``remote_addr`` (the scope's client)."""

    remote_addr: str | None = None

    def _base_scope(self, **request: Any) -> dict[str, Any]:
        scope: dict[str, Any] = super()._base_scope(**request)  # type: ignore[misc]
        if self.remote_addr:
            scope["client"] = [self.remote_addr, 0]
        return scope


class AsgiClient:
    """Django's ``AsyncClient`` behind the sync ``Client``'s methods.

    Each request goes through Django's ASGI handler (an ``ASGIRequest``, the
    middleware run for ASGI), awaited with ``async_to_sync``. ``HTTP_*`` keys
    (given to the client or to a request) become headers, ``REMOTE_ADDR`` the
    ASGI scope's client, as a server would set them.
    """

    def __init__(self, *args: Any, **defaults: Any) -> None:
        headers = _headers_from(defaults)
        remote_addr = defaults.pop("REMOTE_ADDR", None)
        self._client = _AddressedClient(*args, headers=headers or None, **defaults)
        self._client.remote_addr = remote_addr

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if name not in _REQUESTS:
            return value

        def request(path: str, *args: Any, **extra: Any) -> Any:
            headers = {**(extra.pop("headers", None) or {}), **_headers_from(extra)}
            return async_to_sync(value)(path, *args, headers=headers or None, **extra)

        return request


def _headers_from(extra: dict[str, Any]) -> dict[str, str]:
    """Take the ``HTTP_*`` keys out of ``extra``, as header names."""
    keys = [key for key in extra if key.startswith("HTTP_")]
    return {key[5:].replace("_", "-").title(): str(extra.pop(key)) for key in keys}


def wsgi_and_asgi(
    namespace: MutableMapping[str, Any], *, wsgi_only: Mapping[str, str] | None = None
) -> tuple[Any, Any]:
    """Fixtures that run each test of a module with ``Client``, then with :class:`AsgiClient`.

    ``handler`` (autouse) binds the module's ``Client`` to the one or the other;
    ``client`` is one of them, as pytest-django's fixture would be. ``wsgi_only``
    names the tests that run under WSGI alone, each with the reason.
    """

    @pytest.fixture(autouse=True, params=["wsgi", "asgi"], name="handler")
    def handler(request: pytest.FixtureRequest) -> Iterator[str]:
        reason = (wsgi_only or {}).get(request.node.originalname)
        if request.param == "asgi" and reason:
            pytest.skip(reason)
        saved = namespace["Client"]
        if request.param == "asgi":
            namespace["Client"] = AsgiClient
        try:
            yield request.param
        finally:
            namespace["Client"] = saved

    @pytest.fixture(name="client")
    def client(handler: str) -> Any:
        return namespace["Client"]()

    return handler, client
