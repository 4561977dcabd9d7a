"""What the benchmark sites' settings share: their database and cache, from the environment.

``BENCH_DB_*`` name the database (see ``serving.database_env``); ``BENCH_BINDING``
is ``client`` (Django's default) or ``server`` (server-side binding and prepared
statements, as docs/deployment.rst recommends); ``BENCH_CACHE`` is ``redis``
(``REDIS_URL``, shared by the workers as in production), ``locmem`` or
``dummy`` (keeps nothing).
"""

from __future__ import annotations

import os


def database() -> dict[str, object]:
    """The benchmark's PostgreSQL database, with the binding ``BENCH_BINDING`` names."""
    server_side = os.environ.get("BENCH_BINDING", "server") == "server"
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DB_NAME", "sepsms_bench"),
        "USER": os.environ.get("BENCH_DB_USER", "postgres"),
        "PASSWORD": os.environ.get("BENCH_DB_PASSWORD", ""),
        "HOST": os.environ.get("BENCH_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_DB_PORT", "5432"),
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"prepare_threshold": 5, "server_side_binding": True} if server_side else {},
    }


def cache() -> dict[str, object]:
    """Redis at ``REDIS_URL`` under keys of this run's own, a per-process memory cache, or none."""
    kind = os.environ.get("BENCH_CACHE", "redis")
    if kind == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if kind == "dummy":
        return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        "KEY_PREFIX": os.environ.get("BENCH_CACHE_PREFIX", "sepsms-bench"),
    }
