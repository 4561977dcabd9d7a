"""The worker processes of the queue tests (django-tasks-db's ``db_worker``, RQ's
``rqworker``, a Celery worker) and the blocks of docs/campaigns.rst that set RQ and
Celery up, which both the tests and the workers run as the page writes them."""

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
#: Where the docs' blocks name the reader's project, and what the tests run instead.
CELERY_MODULE = ("myproject.sepsms_celery", "tests.celery_tasks")
#: The Redis keys of each queue, deleted before and after each test.
QUEUE_KEYS = {"rq": ["rq:*"], "celery": ["celery*", "_kombu*", "unacked*"]}


def queue_url() -> str:
    """The Redis database of the RQ and Celery tests' queues: ``SEPSMS_TEST_QUEUE_URL``,
    by default database 14 (the cache's is 15), whose queue keys the tests delete."""
    return os.environ.get("SEPSMS_TEST_QUEUE_URL", "redis://127.0.0.1:6379/14")


def documented_block(caption: str) -> str:
    """The code of the block of docs/campaigns.rst whose caption starts with ``caption``."""
    from tests.first_hour import rst_blocks

    blocks = rst_blocks(ROOT / "docs" / "campaigns.rst")
    (block,) = (b for b in blocks if b.caption.startswith(caption))
    return block.text


def documented_settings(queue: str, installed_apps: list[str], url: str) -> dict[str, Any]:
    """The settings the docs' block for ``queue`` (``rq`` or ``celery``) sets over
    ``installed_apps``, with their Redis at ``url`` and the tests' module for the reader's."""
    caption = {"rq": "settings.py, for RQ", "celery": "settings.py, for Celery"}[queue]
    code = documented_block(caption).replace(*CELERY_MODULE)
    names: dict[str, Any] = {"INSTALLED_APPS": list(installed_apps)}
    exec(code, names)  # the docs' own block
    for config in names.get("RQ_QUEUES", {}).values():
        config["URL"] = url
    if "CELERY_BROKER_URL" in names:
        names["CELERY_BROKER_URL"] = url
    return {name: value for name, value in names.items() if name.isupper()}


def clear_queue(client: Any, queue: str) -> None:
    for pattern in QUEUE_KEYS[queue]:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


def require_queue(queue: str) -> Any:
    """A client of :func:`queue_url`'s Redis, ``queue``'s keys deleted. The test is
    skipped when the queue's package or the server is missing, or fails under ``CI``,
    which has both."""
    reason = ""
    package = {"rq": "django_tasks_rq", "celery": "celery"}[queue]
    try:
        __import__(package)
        from redis import Redis
        from redis.exceptions import RedisError
    except ImportError:
        reason = f"{package} is not installed"
    else:
        client = Redis.from_url(queue_url(), socket_connect_timeout=2)
        try:
            client.ping()
        except RedisError:
            reason = f"no Redis server at {queue_url()}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is an error)")
        pytest.skip(reason)
    clear_queue(client, queue)
    return client


def start_worker(
    simulator: Simulator,
    *,
    queue: str = "db",
    batch_size: int = 50,
    stdout: int = subprocess.DEVNULL,
) -> subprocess.Popen[str]:
    """A worker process on this test's database, in a session of its own (its children
    too): ``db_worker`` for one task, ``rqworker`` in burst mode, or a Celery worker
    (one process; it runs until stopped)."""
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
        "SEPSMS_TEST_QUEUE_URL": queue_url(),
        "SEPSMS_TEST_WORKER_BASE_URL": simulator.base_url,
        "SEPSMS_TEST_WORKER_BATCH_SIZE": str(batch_size),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "PYTHONPATH": str(ROOT),
    }
    if queue == "rq":
        command = [sys.executable, "-m", "django", "rqworker", "default"]
        command += ["--job-class", "django_tasks_rq.Job", "--with-scheduler", "--burst"]
    elif queue == "celery":
        command = [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker"]
        command += ["--pool", "solo", "--without-mingle", "--without-gossip", "-l", "warning"]
    else:
        command = [sys.executable, "-m", "django", "db_worker", "--no-startup-delay"]
        command += ["--interval", "0.2", "--max-tasks", "1"]
    return subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
