"""Signed delivery reports per second through the receiver, against a bare view, under gunicorn.

    python benchmarks/bench_webhooks.py [--rounds 6] [--seconds 1] [--binding both]
        [--workers 4] [--connections 8] [--cache redis]

One gunicorn (sync workers) serves both views from one PostgreSQL database;
wrk (``apt-get install wrk``) posts signed ``dr.success`` deliveries to them
through ``wrk_requests.lua``, each for a recipient of one campaign that is
still pending, none twice. The bare view parses the same JSON and runs one
indexed ``UPDATE`` of the recipient's row; the receiver (``sepsms:webhook``)
checks the body's size, the signature and its timestamp, the event name
against replays under another name (one cache round trip), parses strictly,
then updates the recipient, keeps the message's counts and stores the event
(one statement). Before every side's round the rows are reset and vacuumed,
and the deliveries are signed afresh (so none is older than the round).

Prints, for each binding, the median and min-max of the per-round ratios
receiver ÷ bare over paired ABBA rounds (see harness.py), and each side's
median rate as wrk measured it. Targets: >= 0.7 with Django's default
client-side binding, >= 0.8 with server-side binding and prepared statements.
Needs PostgreSQL (``DATABASE_URL``'s server, default 127.0.0.1:5432 as
postgres) and, with ``--cache redis`` (the default, as in production), Redis
at ``REDIS_URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import Side, add_round_arguments, compare  # noqa: E402
from benchmarks.serving import (  # noqa: E402
    Gunicorn,
    Post,
    WrkResult,
    admin_dsn,
    database_env,
    drop_cache_keys,
    run_wrk,
    settled,
    write_requests,
    wrk_available,
)

DB_NAME = f"sepsms_bench_webhooks_{os.getpid()}"
CACHE_PREFIX = f"sepsms-bench-{os.getpid()}"
SECRET = "whsec_bench"
TARGETS = {"client": 0.7, "server": 0.8}
os.environ.update(database_env(os.environ.get("DATABASE_URL"), DB_NAME))
os.environ["BENCH_CACHE_PREFIX"] = CACHE_PREFIX
os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.webhook_site"

import django  # noqa: E402
import psycopg  # noqa: E402


class Pool:
    """The recipients of one campaign that deliveries are reported for."""

    def __init__(self) -> None:
        from django_sepsms.models import Message, MessageBatch

        self.message = Message.objects.create(origin="BENCH", text="t", status="pending")
        self.sms_uuid = str(uuid.uuid4())
        self.batch = MessageBatch.objects.create(
            message=self.message, provider_uuid=self.sms_uuid, status="pending"
        )
        self.phones: list[str] = []

    def grow(self, size: int) -> None:
        """At least ``size`` recipients."""
        from django_sepsms.models import Message, Recipient

        start = len(self.phones)
        if size <= start:
            return
        phones = [f"668{i:08d}" for i in range(start, size)]
        Recipient.objects.bulk_create(
            [
                Recipient(
                    message=self.message, batch=self.batch, phone=p, status="pending", tx_id=tx(p)
                )
                for p in phones
            ],
            batch_size=5000,
        )
        self.phones += phones
        Message.objects.filter(pk=self.message.pk).update(recipient_count=size)

    def reset(self) -> None:
        """Every recipient pending again, no event stored, the tables vacuumed."""
        from django.db import connection

        from django_sepsms.models import Message, Recipient, WebhookEvent

        Recipient.objects.exclude(status="pending").update(status="pending")
        Message.objects.update(delivered_count=0, failed_count=0)
        tables = [m._meta.db_table for m in (Recipient, Message, WebhookEvent)]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables[2]}")
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")

    def touched(self) -> int:
        """Recipients no longer pending."""
        from django_sepsms.models import Recipient

        return Recipient.objects.exclude(status="pending").count()

    def posts(self, path: str, count: int) -> Iterator[Post]:
        """``count`` deliveries, one a recipient, signed now."""
        from django_sepsms.testing import webhook_headers

        for phone in self.phones[:count]:
            payload = {"smsUuid": self.sms_uuid, "msisdn": phone, "txId": tx(phone)}
            payload["status"] = "success"
            body = json.dumps(payload, separators=(",", ":"))
            headers = webhook_headers(body, SECRET, event="dr.success")
            yield Post(path, body, {**headers, "Content-Type": "application/json"})


def tx(phone: str) -> str:
    return f"tx-{phone}"


def check_bare(result: WrkResult, connections: int) -> None:
    """Every answered request updated one recipient (and a few more were in flight)."""
    from django_sepsms.models import Recipient

    updated = settled(Recipient.objects.filter(status="success").count)
    if not result.requests <= updated <= result.requests + connections:
        raise SystemExit(f"bare view: {result.requests} answers but {updated} rows updated")


def check_receiver(result: WrkResult, connections: int) -> None:
    """Every answered delivery was stored once, applied, and counted on its message."""
    from django.db import connection
    from django.db.models import Count

    from django_sepsms.models import Message, WebhookEvent

    events, message = WebhookEvent._meta.db_table, Message._meta.db_table

    def snapshot() -> tuple[int, int, int]:
        with connection.cursor() as cursor:  # one statement: one consistent view
            cursor.execute(
                f"SELECT (SELECT count(*) FROM {events}),"
                f" (SELECT count(*) FROM {events} WHERE outcome = %s),"
                f" (SELECT delivered_count FROM {message})",
                [WebhookEvent.Outcome.APPLIED],
            )
            return tuple(cursor.fetchone())

    stored, applied, delivered = settled(snapshot)
    if not result.requests <= stored <= result.requests + connections:
        raise SystemExit(f"receiver: {result.requests} answers but {stored} events stored")
    if applied != stored or delivered != stored:
        outcomes = dict(
            WebhookEvent.objects.values_list("outcome").annotate(n=Count("id")).order_by()
        )
        raise SystemExit(f"receiver: {stored} events ({outcomes}), {delivered} counted")


def side(
    name: str,
    server: Gunicorn,
    path: str,
    pool: Pool,
    check: Callable[[WrkResult, int], None],
    args: argparse.Namespace,
    requests_file: Path,
) -> Side:
    """A side whose round resets the rows, signs deliveries afresh and runs wrk."""

    def measure(seconds: float) -> float:
        while True:
            pool.reset()
            write_requests(requests_file, pool.posts(path, len(pool.phones)))
            result = run_wrk(
                server.url(path),
                requests_file,
                seconds=seconds,
                connections=args.connections,
                threads=args.threads,
            )
            if result.bad_status or result.socket_errors:
                raise SystemExit(
                    f"{name}: {result.bad_status} refused, {result.socket_errors} socket errors"
                )
            if result.wraps:  # some recipient got two reports: measure again with more
                settled(pool.touched)
                pool.grow(max(2 * len(pool.phones), 2 * result.requests))
                continue
            check(result, args.connections)
            # Room for a round twice as fast next time.
            pool.grow(4 * (result.requests + args.connections))
            return result.rate

    return Side(name, measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_round_arguments(parser)
    parser.add_argument("--binding", choices=["client", "server", "both"], default="both")
    parser.add_argument(
        "--client-side-binding",
        action="store_const",
        const="client",
        dest="binding",
        help="The same as --binding client.",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (4).")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8).")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1).")
    parser.add_argument("--cache", choices=["redis", "locmem"], default="redis")
    args = parser.parse_args()
    if not wrk_available():
        raise SystemExit("bench_webhooks.py drives gunicorn with wrk: apt-get install wrk")
    os.environ["BENCH_CACHE"] = args.cache
    bindings = ["client", "server"] if args.binding == "both" else [args.binding]

    admin = psycopg.connect(admin_dsn(os.environ), autocommit=True)
    admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    workdir = tempfile.TemporaryDirectory(prefix="sepsms-bench-")
    try:
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        pool = Pool()
        pool.grow(2000)
        requests_file = Path(workdir.name) / "deliveries.txt"
        print(
            f"wrk: {args.threads} thread(s), {args.connections} connections; gunicorn: "
            f"{args.workers} sync workers; PostgreSQL; cache: {args.cache}; "
            f"signed dr.success deliveries, each for a pending recipient of one campaign"
        )
        for binding in bindings:
            os.environ["BENCH_BINDING"] = binding
            with Gunicorn(
                "benchmarks.webhook_site_wsgi:application",
                env=os.environ,
                workers=args.workers,
                probe="/",
            ) as server:
                result = compare(
                    side(
                        "bare view (parse + UPDATE)",
                        server,
                        "/bare/",
                        pool,
                        check_bare,
                        args,
                        requests_file,
                    ),
                    side(
                        "receiver (sepsms:webhook)",
                        server,
                        "/sepsms/webhook/",
                        pool,
                        check_receiver,
                        args,
                        requests_file,
                    ),
                    unit="requests",
                    rounds=args.rounds,
                    seconds=args.seconds,
                )
            print(result.report(f"receiver ÷ bare view, {binding}-side binding"))
            print(f"  target: >= {TARGETS[binding]}")
    finally:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.close()
        workdir.cleanup()
        if args.cache == "redis":
            drop_cache_keys(CACHE_PREFIX)


if __name__ == "__main__":
    main()
