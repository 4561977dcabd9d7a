"""The benchmarks in ``benchmarks/`` still run: each once, tiny, on this leg's database.

Their figures are not checked here (tiny runs say nothing about speed); only
that every benchmark starts its simulator or server, measures and prints its
ratios, and cleans up after itself. The gunicorn benchmarks need wrk
(``apt-get install wrk``), the peer benchmark its own virtualenv
(``python benchmarks/bench_peer.py --setup``): without them they are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _database_url(name: str) -> str:
    """This leg's database server, with a database of the benchmark's own."""
    url = os.environ.get("DATABASE_URL", "sqlite://")
    if connection.vendor != "postgresql":
        return "sqlite://"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/sepsms_smoke_{name}"))


def _run(script: str, *args: str, database: str, timeout: float = 120) -> str:
    env = {**os.environ, "DATABASE_URL": _database_url(database)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_bench_send_prints_both_ratios() -> None:
    out = _run(
        "bench_send.py", "--recipients", "120", "--batch", "50", "--rounds", "1", database="send"
    )
    assert "HTTP backend:" in out
    assert "send_sms():" in out
    assert out.count("ratio to baseline:") == 2


def test_bench_send_with_latency() -> None:
    out = _run(
        "bench_send.py",
        "--recipients",
        "60",
        "--batch",
        "30",
        "--rounds",
        "1",
        "--latency",
        "0.01",
        database="send_latency",
    )
    assert "10 ms latency" in out
    assert "its own process" in out


def test_bench_campaign_runs() -> None:
    out = _run("bench_campaign.py", "--recipients", "300", database="campaign")
    assert "wall-time ratio:" in out


def test_bench_admin_runs() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the admin benchmark fills its tables on PostgreSQL (CI runs it)")
    out = _run(
        "bench_admin.py",
        *("--messages", "1500", "--small", "300", "--big", "200"),
        *("--rounds", "1", "--seconds", "0.01"),
        database="admin",
    )
    assert "messages, kind=otp, cold" in out
    assert "messages, search by phone, warm" in out
    assert "a message page: 200 recipients ÷ 10" in out
    assert "target <= 2.0" in out


def _needs_wrk() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the gunicorn benchmarks serve from PostgreSQL (CI runs them)")
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")


def test_bench_webhooks_runs() -> None:
    _needs_wrk()
    out = _run(
        "bench_webhooks.py", "--rounds", "1", "--seconds", "0.05", database="webhooks", timeout=600
    )
    assert "receiver ÷ bare view, client-side binding:" in out
    assert "receiver ÷ bare view, server-side binding:" in out


def test_bench_peer_runs() -> None:
    _needs_wrk()
    from benchmarks.bench_peer import VENV, peer_available

    if not peer_available():
        pytest.skip(f"no django-phone-verify venv at {VENV} (bench_peer.py --setup makes it)")
    out = _run(
        "bench_peer.py",
        *("--rounds", "1", "--seconds", "0.05", "--floor", "off", "--prime", "0"),
        database="peer",
        timeout=600,
    )
    assert "code request, this app ÷ django-phone-verify, no timing floor:" in out
    assert "check of a right code, this app ÷ peer, no timing floor:" in out


def test_harness_pairs_rounds_in_abba_order() -> None:
    from benchmarks.harness import Side, compare, rate_of

    order: list[str] = []

    def side(name: str, rate: float) -> Side:
        def measure(seconds: float) -> float:
            order.append(name)
            return rate

        return Side(name, measure)

    result = compare(side("a", 100.0), side("b", 80.0), unit="x", rounds=4, warmup=False)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert result.ratios == [0.8] * 4
    assert "0.800 (min 0.800, max 0.800) over 4 paired ABBA rounds" in result.report("t")
    calls: list[int] = []
    measure = rate_of(lambda n: calls.append(n) or time.sleep(0.001 * n))
    assert measure(0.02) > 0
    assert calls[-1] >= 10  # grown until one call lasted the round
