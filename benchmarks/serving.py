"""Serving a benchmark site with gunicorn and driving it with wrk.

    with Gunicorn("benchmarks.webhook_site_wsgi:application", env=env, workers=4) as server:
        result = run_wrk(server.url("/bare/"), requests_file, seconds=1.0)
        print(result.rate)

:class:`Gunicorn` starts the server and waits until it answers, however slowly a
loaded machine boots it (any answer counts; refused connections and timeouts are
retried until a generous deadline). :func:`run_wrk` posts the requests written by
:func:`write_requests` (each at most once a run: wrk's threads take every n-th line)
and returns wrk's own count and rate, with how often the list ran out.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import requests

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_requests.lua"
#: How long a server may take to answer its first request (a loaded CI machine is slow).
START_TIMEOUT = 180.0


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_env(url: str | None, name: str) -> dict[str, str]:
    """``BENCH_DB_*`` variables for database ``name`` on the server of ``url``.

    ``url`` is a ``DATABASE_URL`` (``postgres://user:password@host:port/db``); any
    other scheme, or none, means PostgreSQL on 127.0.0.1:5432 as user postgres.
    """
    parts = urlsplit(url or "")
    if parts.scheme not in {"postgres", "postgresql"}:
        parts = urlsplit("postgres://postgres@127.0.0.1:5432/")
    return {
        "BENCH_DB_NAME": name,
        "BENCH_DB_USER": unquote(parts.username or "postgres"),
        "BENCH_DB_PASSWORD": unquote(parts.password or ""),
        "BENCH_DB_HOST": parts.hostname or "127.0.0.1",
        "BENCH_DB_PORT": str(parts.port or 5432),
    }


def admin_dsn(env: Mapping[str, str]) -> str:
    """A libpq connection string to the ``postgres`` database of :func:`database_env`'s server."""
    dsn = (
        f"host={env['BENCH_DB_HOST']} port={env['BENCH_DB_PORT']} "
        f"user={env['BENCH_DB_USER']} dbname=postgres"
    )
    return dsn + (f" password={env['BENCH_DB_PASSWORD']}" if env["BENCH_DB_PASSWORD"] else "")


def wait_until_up(
    url: str, *, timeout: float = START_TIMEOUT, process: subprocess.Popen[Any] | None = None
) -> None:
    """Poll ``url`` until the server gives any answer; raise if it dies or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} while starting")
        try:
            requests.get(url, timeout=10)
        except (requests.ConnectionError, requests.Timeout):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer from {url} within {timeout:g} s") from None
            time.sleep(0.2)
        else:
            return


class Gunicorn:
    """A gunicorn of sync workers on a free local port, for the length of a ``with``."""

    def __init__(
        self,
        app: str,
        *,
        env: Mapping[str, str],
        workers: int,
        python: str = sys.executable,
        probe: str = "/",
    ) -> None:
        self.app, self.env, self.workers, self.python, self.probe = (
            app,
            dict(env),
            workers,
            python,
            probe,
        )
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Gunicorn:
        self.process = subprocess.Popen(
            [
                self.python,
                "-m",
                "gunicorn",
                self.app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                "sync",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
        )
        try:
            wait_until_up(self.url(self.probe), process=self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def drop_cache_keys(prefix: str) -> None:
    """Forget a run's keys in Redis at ``REDIS_URL``, which would stay there for minutes."""
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


def settled(read: Callable[[], T], *, pause: float = 0.3, timeout: float = 60.0) -> T:
    """What ``read()`` gives once it has not changed for three reads ``pause`` apart.

    When wrk stops, the server still answers the requests it had accepted or
    queued (on a loaded machine, some time later): a round's rows are checked,
    and the next round's reset, only after that.
    """
    deadline = time.monotonic() + timeout
    last, same = read(), 0
    while same < 2 and time.monotonic() < deadline:
        time.sleep(pause)
        now = read()
        same = same + 1 if now == last else 0
        last = now
    return last


def wrk_available() -> bool:
    """Whether the ``wrk`` load generator is installed (Debian: ``apt-get install wrk``)."""
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class Post:
    """One request for wrk: a path, a body and its headers."""

    path: str
    body: str
    headers: Mapping[str, str]


def write_requests(path: Path, posts: Iterable[Post]) -> int:
    """Write ``posts`` one a line for ``wrk_requests.lua``; returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for post in posts:
            fields = [post.path, post.body, *(f"{k}:{v}" for k, v in post.headers.items())]
            if any(c in f for f in fields for c in "\t\n"):
                raise ValueError("a request field holds a tab or a line break")
            out.write("\t".join(fields) + "\n")
            count += 1
    return count


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run did: requests answered, in how long, and what went wrong."""

    requests: int
    seconds: float
    #: Answers with a status of 400 or more.
    bad_status: int
    socket_errors: int
    #: How often a thread ran out of requests and began its list again.
    wraps: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


_SUMMARY = re.compile(r"^wrk-summary (.*)$", re.MULTILINE)


def run_wrk(
    url: str, requests_file: Path, *, seconds: float, connections: int = 8, threads: int = 1
) -> WrkResult:
    """Post ``requests_file``'s requests to the server of ``url`` for ``seconds`` (whole, >= 1)."""
    duration = max(1, math.ceil(seconds))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{max(connections, threads)}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(requests_file),
        str(threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    match = _SUMMARY.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    values = {k: int(v) for k, v in (item.split("=") for item in match.group(1).split())}
    return WrkResult(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        bad_status=values["status"],
        socket_errors=values["connect"] + values["read"] + values["write"] + values["timeout"],
        wraps=values["wraps"],
    )
