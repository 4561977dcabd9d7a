"""``send_sms()`` and the HTTP backend against the same work done bare, through the stub provider.

    python benchmarks/bench_send.py [--database sqlite|postgresql|both] [--latency SECONDS]
                                    [--rounds 6] [--seconds 1.0]

Each figure is a paired ratio, the app's rate ÷ the bare rate in the same
round (median and min-max over interleaved ABBA rounds, see ``harness.py``):

1. ``send_sms()`` of one message to one number (the everyday case) ÷ the bare
   send of it, in messages a second;
2. ``send_sms()`` of 10,000 recipients in batches of 1,000 ÷ the bare send of
   them, in recipients a second. The bare send (``bare.py``) writes the same
   rows with the same inserts the app uses, makes the same POSTs on one
   keep-alive ``requests.Session`` and runs one status UPDATE per batch;
3. the HTTP backend (``SepsmsBackend.send_messages()``, one backend for the
   round, as one process sending many would use it) ÷ bare
   ``requests.Session.post`` of the same payloads, answers read, one number a
   request, in requests a second;
4. the same with 1,000 numbers a request.

The provider is ``stub_provider.py`` in its own process: it answers in
microseconds (``--latency`` holds each answer, as a network round trip would),
so the figures are the app's own costs. ``--database both`` (the default)
measures 1 and 2 on SQLite and then on PostgreSQL (``DATABASE_URL`` if it names
one, else ``postgres://postgres@127.0.0.1:5432/sepsms_bench``), each in a
process of its own, and 3 and 4, which touch no database, once. Each side of a
round starts from empty tables.

Settings: ``THROTTLE`` is off. The throttle keeps the provider's limits (120
sends a minute, 2,400 requests), which are constants, not settings: on, it
would hold the app's side to two sends a second and the figure would measure
that pacing. ``SEND_CONCURRENCY`` keeps its default (2); ``BATCH_SIZE`` is
``--batch``. The ``django_sepsms`` logger is at ``WARNING``, as under Django's
default logging (the test settings log everything, which no site does).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

from benchmarks.harness import Side, add_round_arguments, compare, rate_of  # noqa: E402
from benchmarks.stub_provider import StubProvider  # noqa: E402

#: The PostgreSQL database when ``DATABASE_URL`` names none.
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/sepsms_bench"
SEND_TARGET = 0.80
BACKEND_TARGET = 0.95


def database_url(database: str) -> str:
    """The ``DATABASE_URL`` of ``database`` (``sqlite`` or ``postgresql``)."""
    if database == "sqlite":
        return "sqlite://"
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_POSTGRES_URL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql", "both"],
        default="both",
        help="Where send_sms() records (default: both, one after the other).",
    )
    parser.add_argument(
        "--recipients", type=int, default=10_000, help="Recipients of the large send."
    )
    parser.add_argument("--batch", type=int, default=1000, help="BATCH_SIZE (default 1000).")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="Seconds the stub holds each answer, as a network round trip would (default 0).",
    )
    parser.add_argument(
        "--skip-http",
        action="store_true",
        help="Leave out the HTTP backend's figures (they touch no database).",
    )
    add_round_arguments(parser)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.database == "both":
        for database, extra in (("sqlite", []), ("postgresql", ["--skip-http"])):
            command = [sys.executable, __file__, *sys.argv[1:], "--database", database, *extra]
            subprocess.run(command, check=True)
            sys.stdout.flush()
        return
    os.environ["DATABASE_URL"] = database_url(args.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    logging.getLogger("django_sepsms").setLevel(logging.WARNING)
    measure(args)


def measure(args: argparse.Namespace) -> None:
    """Every figure of this database, in a throwaway database of its own."""
    # Django is set up first, on the database --database names.
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with StubProvider(latency=args.latency) as stub:
            settings = {
                "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend",
                "API_KEY": stub.api_key,
                "BASE_URL": stub.base_url,
                "ORIGIN": "BENCH",
                "BATCH_SIZE": args.batch,
                "THROTTLE": False,
                "TIMEOUT": 30,
            }
            with override_settings(SEPSMS=settings):
                print_setup(args)
                run_figures(args, stub.base_url, stub.api_key)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def print_setup(args: argparse.Namespace) -> None:
    from django.db import connection

    from django_sepsms.conf import sepsms_settings

    if connection.vendor == "postgresql":
        version = connection.pg_version
        binding = (
            "server"
            if connection.settings_dict["OPTIONS"].get("server_side_binding")
            else "client"
        )
        database = (
            f"PostgreSQL {version // 10000}.{version % 100} "
            f"(psycopg {connection.Database.__version__.split(' ')[0]}, {binding}-side binding)"
        )
    else:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
        database = f"SQLite {connection.Database.sqlite_version} (a file, journal_mode {journal})"
    print(f"== bench_send.py: {database}")
    print(
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"provider: the stub (benchmarks/stub_provider.py) in its own process, "
        f"{args.latency * 1000:g} ms latency per answer"
    )
    print(
        f"settings: THROTTLE off (the provider's limits would pace the app's side), "
        f"SEND_CONCURRENCY {sepsms_settings.SEND_CONCURRENCY}, BATCH_SIZE {args.batch:,}"
    )
    print(f"rounds:   {args.rounds} of >= {args.seconds:g} s a side, in ABBA order", flush=True)


def run_figures(args: argparse.Namespace, base_url: str, api_key: str) -> None:
    from django.db import connection

    from benchmarks import bare
    from django_sepsms import get_backend, send_sms
    from django_sepsms.backends.base import OutgoingSms
    from django_sepsms.models import Message, MessageBatch

    sender = bare.BareSender(base_url, api_key)
    database = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    one_local = bare.local_numbers(10_000)
    one_sent = bare.normalised(one_local)
    turn = itertools.count()

    def bare_one(n: int) -> None:
        for _ in range(n):
            sender.send([one_sent[next(turn) % len(one_sent)]], args.batch)

    def app_one(n: int) -> None:
        for _ in range(n):
            msg = send_sms(bare.TEXT, one_local[next(turn) % len(one_local)])
        assert msg.status == Message.Status.PENDING, msg.status
        _check_sent(msg, MessageBatch)

    many_local = bare.local_numbers(args.recipients, start=20_000)
    many_sent = bare.normalised(many_local)

    def bare_many(n: int) -> None:
        for _ in range(n):
            sender.send(many_sent, args.batch)

    def app_many(n: int) -> None:
        for _ in range(n):
            msg = send_sms(bare.TEXT, many_local)
        assert msg.status == Message.Status.PENDING, msg.status
        _check_sent(msg, MessageBatch)

    show(
        f"send_sms() ÷ bare, one message to one number, {database} (target >= {SEND_TARGET})",
        Side("bare send (bare.py)", _fresh(rate_of(bare_one))),
        Side("send_sms()", _fresh(rate_of(app_one))),
        "messages",
        args,
    )
    show(
        f"send_sms() ÷ bare, {args.recipients:,} recipients in batches of {args.batch:,}, "
        f"{database} (target >= {SEND_TARGET})",
        Side("bare send (bare.py)", _fresh(_times(args.recipients, rate_of(bare_many)))),
        Side("send_sms()", _fresh(_times(args.recipients, rate_of(app_many)))),
        "recipients",
        args,
    )
    if not args.skip_http:
        for size in (1, args.batch):
            numbers = many_sent[:size]
            sms = OutgoingSms(bare.TEXT, numbers, bare.ORIGIN)

            def bare_posts(n: int, numbers: list[str] = numbers) -> None:
                for _ in range(n):
                    sender.post(numbers)

            def backend_posts(n: int, sms: OutgoingSms = sms) -> None:
                assert get_backend().send_messages([sms] * n) == n

            show(
                f"HTTP backend ÷ bare requests.Session.post, "
                f"{'one number' if size == 1 else f'{size:,} numbers'} a request "
                f"(target >= {BACKEND_TARGET})",
                Side("bare requests.Session.post", rate_of(bare_posts)),
                Side("SepsmsBackend.send_messages()", rate_of(backend_posts)),
                "requests",
                args,
            )
    sender.close()


def show(title: str, baseline: Side, candidate: Side, unit: str, args: Any) -> None:
    result = compare(baseline, candidate, unit=unit, rounds=args.rounds, seconds=args.seconds)
    print(result.report(title), flush=True)


def _fresh(measure: Callable[[float], float]) -> Callable[[float], float]:
    """``measure``, each time from empty tables (emptied outside the measured time)."""
    from benchmarks import bare

    def fresh(seconds: float) -> float:
        bare.empty_tables()
        return measure(seconds)

    return fresh


def _times(factor: int, measure: Callable[[float], float]) -> Callable[[float], float]:
    """``measure`` counted in smaller units: ``factor`` of them per unit measured."""
    return lambda seconds: factor * measure(seconds)


def _check_sent(msg: Any, batches: Any) -> None:
    """Every batch of ``msg`` has its provider's answer (checked once a run)."""
    left = batches.objects.filter(message=msg, provider_uuid__isnull=True).count()
    assert left == 0, f"{left} batches of message {msg.pk} were not sent"


if __name__ == "__main__":
    main()
