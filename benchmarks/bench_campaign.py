"""A 100,000-recipient campaign through the simulator, against bare inserts and POSTs.

    python benchmarks/bench_campaign.py [--recipients 100000]

Baseline, in the same run: ``bulk_create`` of the same recipient rows plus bare
batched ``requests`` POSTs of the same payloads to the same simulator (in its
own process). Then ``send_bulk()`` over a generator of numbers: streaming
validation, recording in chunks, claiming and sending each batch, storing the
answers. Prints the wall-time ratio (target <= 1.5) and how much the process's
resident memory grew during the campaign (sampled every 50 ms; target <= 50 MB,
so it never holds all recipients). The provider's rate limit is paced by the
throttle in production; it is off here for both sides, so the figure measures
the app's own overhead.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sepsms_campaign")

import django

django.setup()

import requests  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from benchmarks.bench_send import KEY, SimulatorProcess  # noqa: E402
from django_sepsms import send_bulk  # noqa: E402
from django_sepsms.models import Message, MessageBatch, Recipient  # noqa: E402

TEXT = "Flash sale: 20% off everything today only"
BATCH = 1000


def numbers(count: int) -> Iterator[str]:
    for i in range(count):
        yield f"08{i:08d}"


def baseline(base_url: str, count: int) -> float:
    start = time.perf_counter()
    msg = Message.objects.create(origin="BENCH", text=TEXT)
    batch = MessageBatch.objects.create(message=msg)
    session = requests.Session()
    session.headers["X-API-Key"] = KEY
    chunk: list[str] = []
    for phone in numbers(count):
        chunk.append("66" + phone[1:])
        if len(chunk) == BATCH:
            _flush(session, base_url, msg, batch, chunk)
            chunk = []
    if chunk:
        _flush(session, base_url, msg, batch, chunk)
    session.close()
    return time.perf_counter() - start


def _flush(
    session: requests.Session, base_url: str, msg: Message, batch: MessageBatch, chunk: list[str]
) -> None:
    Recipient.objects.bulk_create(
        [Recipient(message=msg, batch=batch, phone=p) for p in chunk], batch_size=BATCH
    )
    response = session.post(
        base_url + "/message/send",
        json={"origin": "BENCH", "message": TEXT, "recipients": chunk, "scheduledTime": None},
        timeout=30,
    )
    response.raise_for_status()


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def campaign(count: int) -> tuple[float, float]:
    """Run the campaign; return its wall time and its peak resident-memory growth (MB)."""
    start_rss = _rss()
    peak = [start_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    report = send_bulk(TEXT, numbers(count), key=f"bench-{time.time()}")
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    assert report.recorded == count, report.recorded
    msg = report.message
    msg.refresh_from_db()
    assert msg.status == Message.Status.PENDING, msg.status
    return elapsed, (max(peak[0], _rss()) - start_rss) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with SimulatorProcess() as sim:
            settings = {
                "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend",
                "API_KEY": KEY,
                "BASE_URL": sim.base_url,
                "ORIGIN": "BENCH",
                "BATCH_SIZE": BATCH,
                "THROTTLE": False,
                "TIMEOUT": 60,
            }
            with override_settings(SEPSMS=settings):
                app, peak = campaign(args.recipients)
                base = baseline(sim.base_url, args.recipients)
        print(
            f"recipients:                 {args.recipients:,} in batches of {BATCH:,}, "
            f"{connection.vendor}"
        )
        print(f"baseline (bulk_create+POST): {base:6.2f} s")
        print(f"send_bulk():                 {app:6.2f} s")
        print(f"wall-time ratio:             {app / base:6.2f}  (target <= 1.5)")
        print(f"memory growth (peak RSS):    {peak:6.1f} MB  (target <= 50)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
