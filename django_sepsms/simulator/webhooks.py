"""Webhook delivery: one background thread POSTs signed events in order.

Each event is signed as the provider does (``X-Webhook-Signature: t=...,v1=...``,
one ``v1`` per configured secret) and retried with exponential back-off when the
receiver does not answer 2xx.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

import requests

from .. import contract
from ..webhooks.signature import build_signature_header
from .records import Switches
from .wire import Event

logger = logging.getLogger("django_sepsms.simulator")

#: Used to sign when webhooks are on but no secret was configured.
DEFAULT_WEBHOOK_SECRET = "whsec_simulator"
_POST_TIMEOUT = 5.0


class WebhookAttempt(NamedTuple):
    """One POST: the event, the exact body sent and the HTTP status or the error."""

    event: str
    body: bytes
    outcome: int | str


class _Job(NamedTuple):
    url: str
    event: str
    body: bytes
    generation: int


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookDispatcher:
    """Queues events and POSTs them to ``switches.webhook_url`` from one thread."""

    def __init__(self, switches: Switches) -> None:
        self._switches = switches
        self._queue: deque[_Job] = deque()
        self._busy = 0  # queued + in flight
        self._generation = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._log: list[WebhookAttempt] = []

    @property
    def log(self) -> list[WebhookAttempt]:
        with self._cond:
            return list(self._log)

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name="sepsms-simulator-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def clear(self) -> None:
        """Drop queued events and the log.

        A POST already on its way is let finish (it is not retried), so no
        event from before the call reaches the receiver after it returns.
        """
        with self._cond:
            self._generation += 1
            self._busy -= len(self._queue)
            self._queue.clear()
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._busy == 0, _POST_TIMEOUT + 1)
            self._log.clear()

    def enqueue(self, events: Iterable[Event]) -> None:
        """Queue ``events`` in order (twice over with ``webhook_duplicates``)."""
        url = self._switches.webhook_url
        batch = list(events)
        if not url or not batch:
            return
        if self._switches.webhook_duplicates:
            batch += batch
        with self._cond:
            for event, payload in batch:
                self._queue.append(_Job(url, event, encode_body(payload), self._generation))
            self._busy += len(batch)
            self._cond.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        """Block until every queued event was delivered or given up; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._busy == 0, timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping.is_set())
                if self._stopping.is_set():
                    return
                job = self._queue.popleft()
            try:
                self._deliver(job)
            except Exception:  # the thread must survive anything
                logger.exception("Simulator webhook %s failed", job.event)
            finally:
                with self._cond:
                    # clear() already discounted jobs it dropped, not the one in flight.
                    self._busy -= 1
                    self._cond.notify_all()

    def _deliver(self, job: _Job) -> None:
        retries = max(0, int(self._switches.webhook_retries))
        for attempt in range(retries + 1):
            if attempt:
                delay = self._switches.webhook_retry_delay * 2 ** (attempt - 1)
                if self._stopping.wait(delay):
                    return
            if job.generation != self._generation:
                return
            outcome = self._post(job)
            with self._cond:
                if job.generation == self._generation:
                    self._log.append(WebhookAttempt(job.event, job.body, outcome))
            if isinstance(outcome, int) and 200 <= outcome < 300:
                return
        # A warning, so that it shows in the simulator's terminal with no LOGGING set up.
        logger.warning(
            "Simulator webhook %s to %s given up after %d attempts (last answer: %s). "
            "Is the site running, and is this its receiver's URL, trailing slash included?",
            job.event,
            job.url,
            retries + 1,
            outcome,
        )

    def _post(self, job: _Job) -> int | str:
        timestamp = int(time.time())
        secrets = self._switches.webhook_secrets or [DEFAULT_WEBHOOK_SECRET]
        headers = {
            "Content-Type": "application/json",
            contract.HEADER_WEBHOOK_EVENT: job.event,
            contract.HEADER_WEBHOOK_TIMESTAMP: str(timestamp),
            contract.HEADER_WEBHOOK_SIGNATURE: build_signature_header(
                secrets, timestamp, job.body
            ),
        }
        try:
            response = requests.post(
                job.url,
                data=job.body,
                headers=headers,
                timeout=_POST_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            logger.debug("Simulator webhook %s: %s", job.event, type(exc).__name__)
            return f"{type(exc).__name__}: {exc}"
        logger.debug("Simulator webhook %s -> %s", job.event, response.status_code)
        return response.status_code
