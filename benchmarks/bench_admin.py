"""Admin changelists at 1,000 and 1,000,000 recipient rows (PostgreSQL).

    python benchmarks/bench_admin.py [--large 1000000] [--repeat 5]

Seeds 1,000 recipients (100 messages, so pages are full), times each
changelist (best of --repeat renders through the test client, as a
superuser), grows the tables to --large recipients with
set-based SQL, runs ANALYZE, and times the same pages again. Prints, per page,
the queries made at both sizes and the ratio of render times (large / small;
target <= 2.0). Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sepsms_admin_bench")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

PAGES = [
    ("messages", "/admin/sepsms/message/", {}),
    ("messages, status=completed", "/admin/sepsms/message/", {"status__exact": "completed"}),
    ("messages, search by phone", "/admin/sepsms/message/", {"q": "081-234-5678"}),
    ("recipients", "/admin/sepsms/recipient/", {}),
    ("recipients, status=failed", "/admin/sepsms/recipient/", {"status__exact": "failed"}),
    ("recipients, search by phone", "/admin/sepsms/recipient/", {"q": "+66 81 234 5678"}),
    ("one message's page", "/admin/sepsms/message/{message}/change/", {}),
]
PER_MESSAGE = 100


def grow(total_recipients: int, per_message: int = PER_MESSAGE) -> None:
    """Add messages of ``per_message`` recipients (two failed each), up to the total."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sepsms_recipient")
        have = cursor.fetchone()[0]
        messages = (total_recipients - have) // per_message
        if messages <= 0:
            return
        cursor.execute(
            """
            INSERT INTO sepsms_message (kind, origin, text, status, recipient_count,
                estimated_credit, total_credit, blocked_count, delivered_count, failed_count,
                error_code, error_message, created_at, updated_at, sent_at)
            SELECT 'sms', 'SHOP' || (g %% 5), 'Promotion ' || g, 'completed', %s, %s, %s, 0,
                   %s, %s, '', '', now() - (g || ' minutes')::interval, now(), now()
            FROM generate_series(1, %s) g
            RETURNING id
            """,
            [per_message, per_message, per_message, per_message - 2, 2, messages],
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """
            INSERT INTO sepsms_messagebatch (message_id, position, provider_uuid, ref_no,
                status, recipient_count, total_credit, blocked_count, error_code,
                error_message, created_at)
            SELECT m, 0, md5(m::text), 'SP' || m, 'completed', %s, %s, 0, '', '', now()
            FROM unnest(%s::bigint[]) m
            """,
            [per_message, per_message, ids],
        )
        cursor.execute(
            """
            INSERT INTO sepsms_recipient (message_id, batch_id, phone, status, tx_id, error_code,
                created_at, status_changed_at)
            SELECT b.message_id, b.id,
                   '668' || lpad(((b.message_id * 100 + n) %% 99999999)::text, 8, '0'),
                   CASE WHEN n <= 2 THEN 'failed' ELSE 'success' END,
                   md5(b.id::text || n::text), '', now(), now()
            FROM sepsms_messagebatch b CROSS JOIN generate_series(1, %s) n
            WHERE b.message_id = ANY(%s::bigint[])
            """,
            [per_message, ids],
        )
        cursor.execute("ANALYZE")


def measure(client: Client, repeat: int, message_id: int) -> dict[str, tuple[int, float]]:
    results = {}
    for name, url, params in PAGES:
        url = url.format(message=message_id)
        best = float("inf")
        queries = 0
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                response = client.get(url, params)
                best = min(best, time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(ctx.captured_queries)
        results[name] = (queries, best)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench_admin.py fills its tables in SQL on PostgreSQL: set DATABASE_URL.")
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        user = get_user_model().objects.create_superuser("bench", "b@example.com", "pw")
        client = Client()
        client.force_login(user)
        # 100 messages of 10: every page is as full at 1,000 rows as at a million.
        grow(1_000, per_message=10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id) FROM sepsms_message")
            message_id = cursor.fetchone()[0]
        small = measure(client, args.repeat, message_id)
        start = time.perf_counter()
        grow(args.large)
        seeded = time.perf_counter() - start
        large = measure(client, args.repeat, message_id)
        print(f"seeded {args.large:,} recipients in {seeded:.0f}s; best of {args.repeat} renders")
        print(f"{'page':32} {'queries':>8} {'ms 1k':>7} {'ms big':>7} {'ratio':>6}")
        worst = 0.0
        for name, _, _ in PAGES:
            (q1, t1), (q2, t2) = small[name], large[name]
            worst = max(worst, t2 / t1)
            queries = f"{q1}/{q2}"
            print(f"{name:32} {queries:>8} {t1 * 1000:>7.1f} {t2 * 1000:>7.1f} {t2 / t1:>6.2f}")
        print(f"worst time ratio: {worst:.2f}  (target <= 2.0)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
