"""The worker processes of the queue tests (django-tasks-db's ``db_worker``, RQ's
``rqworker``) and the RQ settings of docs/campaigns.rst, which both the test and the
worker run as the page writes them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from django_sepsms.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent


def rq_url() -> str:
    """The Redis database of the RQ tests' queue: ``SEPSMS_TEST_RQ_URL``, by default
    database 14 (the cache's is 15), whose ``rq:`` keys the tests delete."""
    return os.environ.get("SEPSMS_TEST_RQ_URL", "redis://127.0.0.1:6379/14")


def documented_rq_settings(installed_apps: list[str], url: str) -> dict[str, Any]:
    """``INSTALLED_APPS``, ``TASKS`` and ``RQ_QUEUES`` as the RQ block of
    docs/campaigns.rst sets them over ``installed_apps``, its Redis at ``url``."""
    from tests.first_hour import rst_blocks

    blocks = rst_blocks(ROOT / "docs" / "campaigns.rst")
    (block,) = (b for b in blocks if b.caption.startswith("settings.py, for RQ"))
    names: dict[str, Any] = {"INSTALLED_APPS": list(installed_apps)}
    exec(block.text, names)  # the docs' own block
    for queue in names["RQ_QUEUES"].values():
        queue["URL"] = url
    return {name: names[name] for name in ("INSTALLED_APPS", "TASKS", "RQ_QUEUES")}


def require_rq() -> Any:
    """A client of :func:`rq_url`'s Redis, its queue emptied; the test is skipped when
    django-tasks-rq or the server is missing, or fails under ``CI``, which has both."""
    reason = ""
    try:
        import django_tasks_rq  # noqa: F401
        from redis import Redis
        from redis.exceptions import RedisError
    except ImportError:
        reason = "django-tasks-rq is not installed"
    else:
        client = Redis.from_url(rq_url(), socket_connect_timeout=2)
        try:
            client.ping()
        except RedisError:
            reason = f"no Redis server at {rq_url()}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is an error)")
        pytest.skip(reason)
    stale = list(client.scan_iter(match="rq:*", count=1000))
    if stale:
        client.delete(*stale)
    return client


def start_worker(
    simulator: Simulator,
    *,
    queue: str = "db",
    batch_size: int = 50,
    stdout: int = subprocess.DEVNULL,
) -> subprocess.Popen[str]:
    """A worker process on this test's database: ``db_worker`` for one task, or (``queue``
    ``"rq"``) ``rqworker`` in burst mode, in a session of its own (its work horses too)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite://{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SEPSMS_TEST_WORKER_QUEUE": queue,
        "SEPSMS_TEST_RQ_URL": rq_url(),
        "SEPSMS_TEST_WORKER_BASE_URL": simulator.base_url,
        "SEPSMS_TEST_WORKER_BATCH_SIZE": str(batch_size),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "django"]
    if queue == "rq":
        command += ["rqworker", "default", "--job-class", "django_tasks_rq.Job"]
        command += ["--with-scheduler", "--burst"]
    else:
        command += ["db_worker", "--no-startup-delay", "--interval", "0.2", "--max-tasks", "1"]
    return subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
