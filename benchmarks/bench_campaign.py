"""A 100,000-recipient campaign through the stub provider, against the same work done bare.

    python benchmarks/bench_campaign.py [--recipients 100000] [--rounds 6] [--seconds 1.0]

Candidate: ``send_bulk()`` over a generator of numbers: streaming validation,
recording in chunks, claiming and sending each batch, storing the answers.
Baseline (``bare.py``), over the same generator: for each batch of 1,000, its
batch row and recipient rows written with the app's own inserts in one
transaction, the same POST on one keep-alive ``requests.Session``, one UPDATE
of the batch's row with the answer. Both send to ``stub_provider.py`` in its
own process, which answers in microseconds.

Prints the paired ratio of recipients a second (``harness.py``: median and
min-max over interleaved ABBA rounds, each side a whole campaign or more a
round, from empty tables), the wall-time ratio it comes to (1 ÷ that median;
target <= 1.5), and how much the process's resident memory grew during one
campaign (sampled every 50 ms; target <= 50 MB, so it never holds all
recipients). ``THROTTLE`` is off: the provider's 120 sends a minute, which the
throttle keeps in production, would pace the app's side and be what is
measured. Runs on ``DATABASE_URL`` (default: PostgreSQL at
``postgres://postgres@127.0.0.1:5432/sepsms_campaign``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sepsms_campaign")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from benchmarks import bare  # noqa: E402
from benchmarks.harness import Side, add_round_arguments, compare, rate_of  # noqa: E402
from benchmarks.stub_provider import StubProvider  # noqa: E402
from django_sepsms import send_bulk  # noqa: E402
from django_sepsms.models import Message, MessageBatch  # noqa: E402

TEXT = "Flash sale: 20% off everything today only"
BATCH = 1000


def numbers(count: int) -> Iterator[str]:
    for i in range(count):
        yield f"08{i:08d}"


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def campaign(count: int) -> None:
    """One campaign through ``send_bulk()``, checked: every number recorded and sent."""
    report = send_bulk(TEXT, numbers(count), key=f"bench-{time.time_ns()}")
    assert report.recorded == count, report.recorded
    msg = report.message
    msg.refresh_from_db()
    assert msg.status == Message.Status.PENDING, msg.status
    left = MessageBatch.objects.filter(message=msg, provider_uuid__isnull=True).count()
    assert left == 0, f"{left} batches were not sent"


def memory_growth(count: int) -> float:
    """Peak resident-memory growth during one campaign, in MB."""
    start_rss = _rss()
    peak = [start_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        campaign(count)
    finally:
        done.set()
        sampler.join()
    return (max(peak[0], _rss()) - start_rss) / 1e6


def per_recipient(count: int, runs: Callable[[int], None]) -> Callable[[float], float]:
    """A side's ``measure``: whole campaigns from empty tables, counted in recipients."""
    campaigns = rate_of(runs)

    def measure(seconds: float) -> float:
        bare.empty_tables()  # outside the measured time
        return count * campaigns(seconds)

    return measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    add_round_arguments(parser)
    args = parser.parse_args()
    logging.getLogger("django_sepsms").setLevel(logging.WARNING)  # as Django's default logging
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with StubProvider() as stub:
            settings = {
                "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend",
                "API_KEY": stub.api_key,
                "BASE_URL": stub.base_url,
                "ORIGIN": bare.ORIGIN,
                "BATCH_SIZE": BATCH,
                "THROTTLE": False,
                "TIMEOUT": 60,
            }
            sender = bare.BareSender(stub.base_url, stub.api_key)
            with override_settings(SEPSMS=settings):
                peak = memory_growth(args.recipients)

                def bare_runs(n: int) -> None:
                    for _ in range(n):
                        sender.send_streaming(numbers(args.recipients), BATCH, TEXT)

                def app_runs(n: int) -> None:
                    for _ in range(n):
                        campaign(args.recipients)

                result = compare(
                    Side(
                        "bare inserts + POSTs (bare.py)", per_recipient(args.recipients, bare_runs)
                    ),
                    Side("send_bulk()", per_recipient(args.recipients, app_runs)),
                    unit="recipients",
                    rounds=args.rounds,
                    seconds=args.seconds,
                )
            sender.close()
        print(
            f"recipients:                 {args.recipients:,} in batches of {BATCH:,}, "
            f"{connection.vendor}, the stub provider in its own process"
        )
        print(result.report("send_bulk() ÷ bare, recipients a second"))
        print(
            f"wall-time ratio:             {1 / result.median:6.2f}  "
            "(1 ÷ the median, target <= 1.5)"
        )
        print(f"memory growth (peak RSS):    {peak:6.1f} MB  (one campaign; target <= 50)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
