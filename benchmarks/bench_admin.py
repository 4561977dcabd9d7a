"""The admin's lists and a message's page at 1,000 and at 1,000,000 messages, cold and warm.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sepsms_admin_bench \\
        python benchmarks/bench_admin.py [--rounds 6] [--seconds 1] \\
        [--messages 1000000] [--small 1000] [--big 100000] [--temperature both]

Fills two databases on ``DATABASE_URL``'s server with set-based SQL, then
``VACUUM ANALYZE``: a small one of ``--small`` messages and a large one of
``--messages``. Each message has one batch and one recipient (one in three an
SMS, the others codes; one in sixteen failed, so that a filtered page is as
full at 1,000 as at a million; five sender names; three messages in each
database go to the number the search looks for); each
database also has a message of 10 recipients, and the large one a message of
``--big`` recipients. So the large database holds a million messages *and*
over a million recipients.

Every page is rendered through Django's test client as a superuser, on the
small database and on the large one in paired ABBA rounds (harness.py); the
figure is the median (min-max) of the per-round ratio of render times,
large ÷ small (target <= 2). *Warm*: renders after a first one. *Cold*: before
each render this process's cache is emptied (the sender-name filter's list)
and a new database connection is opened, outside the timed render: the server
process behind it starts with empty catalog caches and no prepared plans.
PostgreSQL's shared buffers and the OS page cache stay warm (both databases
fit in memory; emptying them needs a server restart). Last, in the large
database, the page of the message of ``--big`` recipients ÷ that of the one of
10. Prints the queries of each page at both sizes. PostgreSQL only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.admin_site")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sepsms_admin_bench")

import django
import psycopg

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import caches  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from benchmarks.harness import Comparison, Side, add_round_arguments, compare  # noqa: E402

#: The number three messages of each database went to, as a person would type it.
SEARCHED = "081-234-5678"
SEARCHED_NORMALISED = "66812345678"
MESSAGES = "/admin/sepsms/message/"
RECIPIENTS = "/admin/sepsms/recipient/"
PAGES: list[tuple[str, str, dict[str, str]]] = [
    ("messages", MESSAGES, {}),
    ("messages, kind=otp", MESSAGES, {"kind__exact": "otp"}),
    ("messages, status=failed", MESSAGES, {"status__exact": "failed"}),
    ("messages, search by phone", MESSAGES, {"q": SEARCHED}),
    ("recipients", RECIPIENTS, {}),
    ("recipients, status=failed", RECIPIENTS, {"status__exact": "failed"}),
    ("recipients, search by phone", RECIPIENTS, {"q": "+66 81 234 5678"}),
    ("a message of 10 recipients", MESSAGES + "{ten}/change/", {}),
]


@dataclass
class Database:
    """One filled database: its name and the ids of its multi-recipient messages."""

    name: str
    messages: int
    ten: int = 0
    big: int = 0

    def use(self) -> None:
        """Point the default connection at this database."""
        if connection.settings_dict["NAME"] != self.name:
            connection.close()
            connection.settings_dict["NAME"] = self.name


def server_dsn() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    dsn = (
        f"host={parts.hostname or '127.0.0.1'} port={parts.port or 5432} "
        f"user={unquote(parts.username or 'postgres')} dbname=postgres"
    )
    return dsn + (f" password={unquote(parts.password)}" if parts.password else "")


def fill(db: Database, big: int) -> None:
    """``db.messages`` messages of one recipient each, one of 10, and one of ``big`` if any."""
    step = max(8, db.messages // 3)  # ids 7, 7 + step, 7 + 2 * step get the searched number
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sepsms_message (kind, origin, text, status, recipient_count,
                estimated_credit, total_credit, blocked_count, delivered_count, failed_count,
                error_code, error_message, created_at, updated_at, sent_at)
            SELECT CASE WHEN g %% 3 = 0 THEN 'sms' ELSE 'otp' END, 'SHOP' || (g %% 5),
                   CASE WHEN g %% 3 = 0 THEN 'Promotion ' || g ELSE 'Your code' END,
                   CASE WHEN g %% 16 = 0 THEN 'failed' ELSE 'completed' END, 1, 1, 1, 0,
                   (g %% 16 <> 0)::int, (g %% 16 = 0)::int, '', '',
                   now() - ((%(n)s - g) || ' seconds')::interval, now(), now()
            FROM generate_series(1, %(n)s) g
            """,
            {"n": db.messages},
        )
        for size in [10, big] if big else [10]:
            cursor.execute(
                """
                INSERT INTO sepsms_message (kind, origin, text, status, recipient_count,
                    estimated_credit, total_credit, blocked_count, delivered_count,
                    failed_count, error_code, error_message, created_at, updated_at, sent_at)
                VALUES ('sms', 'SHOP0', 'Campaign', 'completed', %(n)s, %(n)s, %(n)s, 0,
                        %(n)s - %(n)s / 50, %(n)s / 50, '', '', now(), now(), now())
                RETURNING id
                """,
                {"n": size},
            )
            message_id = cursor.fetchone()[0]
            if size == 10:
                db.ten = message_id
            else:
                db.big = message_id
        cursor.execute(
            """
            INSERT INTO sepsms_messagebatch (message_id, position, provider_uuid, ref_no,
                status, recipient_count, total_credit, blocked_count, error_code,
                error_message, created_at)
            SELECT id, 0, md5(id::text), 'SP' || id, status, recipient_count,
                   recipient_count, 0, '', '', created_at
            FROM sepsms_message
            """
        )
        cursor.execute(
            """
            INSERT INTO sepsms_recipient (message_id, batch_id, phone, status, tx_id,
                error_code, created_at, status_changed_at)
            SELECT m.id, b.id,
                   CASE WHEN m.id %% %(step)s = 7 THEN %(searched)s
                        ELSE '668' || lpad(((m.id * 7919) %% 100000000)::text, 8, '0') END,
                   CASE WHEN m.status = 'failed' THEN 'failed' ELSE 'success' END,
                   md5('tx' || b.id), '', m.created_at, m.created_at
            FROM sepsms_message m JOIN sepsms_messagebatch b ON b.message_id = m.id
            WHERE m.recipient_count = 1
            """,
            {"step": step, "searched": SEARCHED_NORMALISED},
        )
        cursor.execute(
            """
            INSERT INTO sepsms_recipient (message_id, batch_id, phone, status, tx_id,
                error_code, created_at, status_changed_at)
            SELECT b.message_id, b.id, '669' || lpad(n::text, 8, '0'),
                   CASE WHEN n %% %(fail_every)s = 0 THEN 'failed' ELSE 'success' END,
                   md5(b.id::text || '-' || n), '', now(), now()
            FROM sepsms_messagebatch b
            JOIN sepsms_message m ON m.id = b.message_id
            CROSS JOIN generate_series(1, m.recipient_count) n
            WHERE m.recipient_count > 1
            """,
            {"fail_every": 50},
        )
        cursor.execute("VACUUM (ANALYZE) sepsms_message, sepsms_messagebatch, sepsms_recipient")


def render(client: Client, url: str, params: dict[str, str]) -> float:
    """Seconds one render of ``url`` took (it must answer 200)."""
    began = time.perf_counter()
    response = client.get(url, params)
    spent = time.perf_counter() - began
    assert response.status_code == 200, (url, response.status_code)
    return spent


def page_side(
    name: str, client: Client, db: Database, url: str, params: dict[str, str], *, cold: bool
) -> Side:
    """Renders of one page on one database, as a side: renders per second of render time."""
    url = url.format(ten=db.ten, big=db.big)

    def measure(seconds: float) -> float:
        db.use()
        if not cold:
            render(client, url, params)
        spent, renders = 0.0, 0
        while spent < seconds:
            if cold:
                caches["default"].clear()
                connection.close()
                connection.ensure_connection()
            spent += render(client, url, params)
            renders += 1
        return renders / spent

    return Side(name, measure)


def queries(client: Client, db: Database, url: str, params: dict[str, str]) -> int:
    """The queries of a warm render."""
    db.use()
    render(client, url.format(ten=db.ten, big=db.big), params)
    with CaptureQueriesContext(connection) as captured:
        render(client, url.format(ten=db.ten, big=db.big), params)
    return len(captured.captured_queries)


def line(title: str, result: Comparison) -> str:
    """``title``, the median and min-max ratio, and each side's median render in ms."""
    ratios = result.ratios
    baseline_ms = 1000 / statistics.median(result.baseline_rates)
    candidate_ms = 1000 / statistics.median(result.candidate_rates)
    return (
        f"{title:44} {result.median:6.2f}  ({min(ratios):.2f}-{max(ratios):.2f})  "
        f"{candidate_ms:8.1f} {baseline_ms:8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_round_arguments(parser)
    parser.add_argument("--messages", type=int, default=1_000_000, help="Large size (1M).")
    parser.add_argument("--small", type=int, default=1_000, help="Small size (1,000).")
    parser.add_argument("--big", type=int, default=100_000, help="Recipients of the big message.")
    parser.add_argument("--temperature", choices=["cold", "warm", "both"], default="both")
    parser.add_argument(
        "--message-page-only",
        action="store_true",
        help="Only the page of the message of --big recipients ÷ that of 10.",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench_admin.py fills its tables in SQL on PostgreSQL: set DATABASE_URL.")
    base = connection.settings_dict["NAME"]
    small = Database(f"{base}_small", args.small)
    large = Database(f"{base}_large", args.messages)
    admin = psycopg.connect(server_dsn(), autocommit=True)
    temperatures = ["cold", "warm"] if args.temperature == "both" else [args.temperature]
    try:
        user = None
        for db, big in ((small, 0), (large, args.big)):
            admin.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{db.name}"')
            db.use()
            call_command("migrate", verbosity=0)
            if user is None:
                user = get_user_model().objects.create_superuser("bench", "b@example.com", "pw")
            else:  # the very same row (password hash too): one login serves both databases
                user._state.adding = True
                user.save(force_insert=True)
            began = time.perf_counter()
            fill(db, big)
            print(
                f"{db.name}: {db.messages:,} messages of 1 recipient, one of 10"
                + (f" and one of {big:,}" if big else "")
                + f", filled in {time.perf_counter() - began:.0f} s"
            )
        client = Client()
        client.force_login(user)
        print(
            f"\n{'time at ' + f'{large.messages:,}' + ' ÷ at ' + f'{small.messages:,}':44} "
            f"{'median':>6}  (min-max)    ms small  ms large"
        )
        for temperature in [] if args.message_page_only else temperatures:
            for name, url, params in PAGES:
                result = compare(
                    page_side(
                        f"{name} at {large.messages:,}",
                        client,
                        large,
                        url,
                        params,
                        cold=temperature == "cold",
                    ),
                    page_side(
                        f"{name} at {small.messages:,}",
                        client,
                        small,
                        url,
                        params,
                        cold=temperature == "cold",
                    ),
                    unit="renders",
                    rounds=args.rounds,
                    seconds=args.seconds,
                )
                print(line(f"{name}, {temperature}", result), flush=True)
        print(f"\n{'a message page: ' + f'{args.big:,}' + ' recipients ÷ 10':44}")
        page = MESSAGES + "{}/change/"
        for temperature in temperatures:
            result = compare(
                page_side(
                    f"{args.big:,} recipients",
                    client,
                    large,
                    page.format("{big}"),
                    {},
                    cold=temperature == "cold",
                ),
                page_side(
                    "10 recipients",
                    client,
                    large,
                    page.format("{ten}"),
                    {},
                    cold=temperature == "cold",
                ),
                unit="renders",
                rounds=args.rounds,
                seconds=args.seconds,
            )
            print(line(f"in the large database, {temperature}", result), flush=True)
        print(f"\nqueries per render (at {small.messages:,} / at {large.messages:,}):")
        for name, url, params in [] if args.message_page_only else PAGES:
            print(
                f"  {name:42} {queries(client, small, url, params):3} / "
                f"{queries(client, large, url, params)}"
            )
        print(
            f"  {'a message of ' + f'{args.big:,}' + ' recipients':42}     "
            f"{queries(client, large, page.format('{big}'), {})}"
        )
        print(f"over {args.rounds} paired ABBA rounds of >= {args.seconds:g} s; target <= 2.0")
    finally:
        connection.close()
        for db in (small, large):
            admin.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
