"""Helpers for the browser tests: the system Chromium, launched the way this machine needs.

Playwright's own browser download is not used (and cannot work offline): the tests
drive the Chromium from the system (``apt-get install chromium``) or the one at
``CHROMIUM_PATH``. Playwright gives every ``launch()`` a fresh, empty profile
directory of its own, so no ``--user-data-dir`` is passed here (Playwright refuses it).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

#: Flags for a root, headless, offline machine: no sandbox (root), no GPU, and none of
#: Chromium's own background traffic (updates, sync, QUIC probes) to a closed network.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: Screenshots go here (not committed).
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"

_CODE = re.compile(r"\b(\d{6,8})\b")
_REFERENCE = re.compile(r"Ref: ([A-Z0-9]+)")


def chromium_executable() -> str | None:
    """``CHROMIUM_PATH``, else ``chromium`` on the ``PATH``, else ``/usr/bin/chromium``."""
    candidates = [os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it on CI (``CI`` set), where the browser must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error)")
    pytest.skip(reason)


def launch_args(extra: Sequence[str] = ()) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch()``."""
    executable = chromium_executable()
    if executable is None:
        unavailable("no Chromium: apt-get install chromium, or set CHROMIUM_PATH")
    return {"executable_path": executable, "headless": True, "args": [*CHROMIUM_ARGS, *extra]}


@contextmanager
def running_chromium() -> Iterator[Any]:
    """Start the system Chromium under Playwright's sync API, for one test module.

    Module-scoped on purpose: while Playwright's sync API is started, the test thread
    has a running asyncio loop, which would leak into every later test module if the
    browser lived for the whole session. ``DJANGO_ALLOW_ASYNC_UNSAFE`` lets the ORM
    run in this thread meanwhile, and is put back afterwards.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: pip install playwright")
    kwargs = launch_args()
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(**kwargs)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def code_in(message: str) -> str:
    """The one-time code in an SMS text."""
    match = _CODE.search(message)
    assert match, message
    return match.group(1)


def reference_in(message: str) -> str:
    """The ``Ref: …`` of an SMS text."""
    match = _REFERENCE.search(message)
    assert match, message
    return match.group(1)
