"""Signed dr.* webhooks per second through the receiver, against a bare view.

    python benchmarks/bench_webhooks.py [--requests 3000] [--clients 8] [--workers 2]

Both run under gunicorn on PostgreSQL in the same run: the bare view parses the
same JSON and does one indexed UPDATE; the receiver verifies the signature,
checks the replay window, dedupes, applies the status with its precedence,
keeps the message counts and stores the event. Prints both rates and the ratio
(receiver / bare). Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = f"sepsms_bench_{os.getpid()}"
os.environ["BENCH_DB_NAME"] = DB_NAME
os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.webhook_site"

import django  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402

SECRET = "whsec_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(count: int) -> tuple[str, list[str]]:
    from django_sepsms.models import Message, MessageBatch, Recipient

    msg = Message.objects.create(origin="BENCH", text="t", recipient_count=count, status="pending")
    sms_uuid = str(uuid.uuid4())
    batch = MessageBatch.objects.create(message=msg, provider_uuid=sms_uuid, status="pending")
    phones = [f"668{i:08d}" for i in range(count)]
    Recipient.objects.bulk_create(
        [
            Recipient(message=msg, batch=batch, phone=p, status="pending", tx_id=f"tx-{p}")
            for p in phones
        ],
        batch_size=2000,
    )
    return sms_uuid, phones


def reset_rows() -> None:
    from django_sepsms.models import Message, Recipient, WebhookEvent

    Recipient.objects.update(status="pending")
    Message.objects.update(delivered_count=0, failed_count=0)
    WebhookEvent.objects.all().delete()


def fire(url: str, bodies: list[tuple[bytes, dict[str, str]]], clients: int) -> float:
    """Post every body once from ``clients`` threads; return requests per second."""
    chunks = [bodies[i::clients] for i in range(clients)]
    errors: list[int] = []

    def run(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        with requests.Session() as session:
            for body, headers in chunk:
                response = session.post(url, data=body, headers=headers, timeout=30)
                if response.status_code != 200:
                    errors.append(response.status_code)

    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} requests failed: {sorted(set(errors))}")
    return len(bodies) / elapsed


def signed_bodies(sms_uuid: str, phones: list[str]) -> list[tuple[bytes, dict[str, str]]]:
    from django_sepsms.testing import webhook_headers

    out = []
    for phone in phones:
        payload = {
            "smsUuid": sms_uuid,
            "msisdn": phone,
            "txId": f"tx-{phone}",
            "status": "success",
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = webhook_headers(body, SECRET, event="dr.success")
        headers["Content-Type"] = "application/json"
        out.append((body, headers))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--client-side-binding",
        action="store_true",
        help="Use Django's default psycopg binding (no prepared statements) in the server.",
    )
    args = parser.parse_args()
    if args.client_side_binding:
        os.environ["BENCH_CLIENT_SIDE_BINDING"] = "1"

    admin = psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True)
    admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    server = None
    try:
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        sms_uuid, phones = seed(args.requests)
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "benchmarks.webhook_site_wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base + "/bare/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        bare_rates, app_rates = [], []
        for _ in range(args.rounds):
            reset_rows()
            bare_rates.append(fire(base + "/bare/", signed_bodies(sms_uuid, phones), args.clients))
            reset_rows()
            app_rates.append(
                fire(base + "/sepsms/webhook/", signed_bodies(sms_uuid, phones), args.clients)
            )
        from django_sepsms.models import Message

        msg = Message.objects.get()
        assert msg.delivered_count == args.requests, msg.delivered_count
        bare, app = max(bare_rates), max(app_rates)
        print(
            f"webhooks per run:          {args.requests:,} from {args.clients} clients, "
            f"gunicorn with {args.workers} workers, PostgreSQL, "
            f"{'client' if args.client_side_binding else 'server'}-side binding"
        )
        print(f"bare view (parse+UPDATE):  {bare:,.0f} requests/s")
        print(f"receiver (sepsms:webhook): {app:,.0f} requests/s")
        rounds = ", ".join(f"{a / b:.2f}" for a, b in zip(app_rates, bare_rates, strict=True))
        print(f"ratio in each round:       {rounds}")
        print(f"ratio receiver/bare:       {app / bare:.2f}  (best of each; target >= 0.60)")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
