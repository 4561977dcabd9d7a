"""Counting what one operation costs: SQL queries and cache round trips.

Queries are counted as Django logs them, without transaction control (``BEGIN``,
``COMMIT``, ``SAVEPOINT``, ``RELEASE``, ``ROLLBACK``): those are the database's
bookkeeping, not the work. Cache round trips are counted by
:class:`CountingRedisCache`, Django's Redis cache whose clients count every
command sent on its own and every pipeline sent as one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from redis import Redis
from redis.client import Pipeline

_TRANSACTION_CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START TRANSACTION)\b", re.IGNORECASE
)

_lock = threading.Lock()
_trips: list[list[str]] = []


def _count(command: str) -> None:
    with _lock:
        for trips in _trips:
            trips.append(command)


class _CountingPipeline(Pipeline):
    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if self.command_stack:
            names = "+".join(str(args[0]) for args, _ in self.command_stack)
            _count(f"pipeline[{names}]")
        return super().execute(raise_on_error)


class _CountingRedis(Redis):
    def execute_command(self, *args: Any, **options: Any) -> Any:
        _count(str(args[0]))
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        return _CountingPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


class _CountingClient(RedisCacheClient):
    def __init__(self, servers: Any, **options: Any) -> None:
        super().__init__(servers, **options)
        self._client = _CountingRedis


class CountingRedisCache(RedisCache):
    """Django's Redis cache, its round trips counted within :func:`cache_round_trips`."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _CountingClient


def counting_caches() -> Any:
    """``override_settings`` with every cache of the test settings counted."""
    counted = {
        alias: {**config, "BACKEND": f"{__name__}.CountingRedisCache"}
        for alias, config in settings.CACHES.items()
    }
    return override_settings(CACHES=counted)


@contextmanager
def cache_round_trips() -> Iterator[list[str]]:
    """The names of the cache round trips made inside the block, in order."""
    trips: list[str] = []
    with _lock:
        _trips.append(trips)
    try:
        yield trips
    finally:
        with _lock:
            _trips.remove(trips)


class Queries:
    """The SQL statements of a block, without transaction control."""

    def __init__(self, captured: CaptureQueriesContext) -> None:
        self._captured = captured

    @property
    def statements(self) -> list[str]:
        return [
            q["sql"]
            for q in self._captured.captured_queries
            if not _TRANSACTION_CONTROL.match(q["sql"])
        ]

    def __len__(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(f"{i}. {sql}" for i, sql in enumerate(self.statements, 1))


@contextmanager
def queries() -> Iterator[Queries]:
    """The queries of the default database inside the block (see :class:`Queries`)."""
    with CaptureQueriesContext(connection) as captured:
        yield Queries(captured)
