"""The benchmarks in ``benchmarks/`` still run: each once, tiny, on this cell's database.

Their figures are not checked here (tiny runs say nothing about speed); only
that every benchmark starts its provider stub, simulator or server, measures
and prints its ratios, and cleans up after itself; and that the stub provider
answers the way the HTTP backend expects. The gunicorn benchmarks need wrk
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
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _database_url(name: str) -> str:
    """This cell's database server, with a database of the benchmark's own, named after
    this cell's database (cells running at once on one server do not share it)."""
    url = os.environ.get("DATABASE_URL", "sqlite://")
    if connection.vendor != "postgresql":
        return "sqlite://"
    parts = urlsplit(url)
    cell = parts.path.strip("/") or "sepsms"
    return urlunsplit(parts._replace(path=f"/{cell}_smoke_{name}"))


def _run(script: str, *args: str, database: str, timeout: float = 600) -> str:
    env = {**os.environ, "DATABASE_URL": _database_url(database)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,  # tiny runs, but a loaded machine is slow to create their databases
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _database_choice() -> str:
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def test_bench_send_prints_every_figure() -> None:
    out = _run(
        "bench_send.py",
        *("--database", _database_choice(), "--recipients", "120", "--batch", "50"),
        *("--rounds", "1", "--seconds", "0.01"),
        database="send",
    )
    assert "send_sms() ÷ bare, one message to one number" in out
    assert "send_sms() ÷ bare, 120 recipients in batches of 50" in out
    assert "HTTP backend ÷ bare requests.Session.post, one number a request" in out
    assert "HTTP backend ÷ bare requests.Session.post, 50 numbers a request" in out
    assert out.count("paired ABBA rounds of >= 0.01 s") == 4


def test_bench_send_with_latency() -> None:
    out = _run(
        "bench_send.py",
        *("--database", _database_choice(), "--recipients", "60", "--batch", "30"),
        *("--rounds", "1", "--seconds", "0.01", "--latency", "0.01", "--skip-http"),
        database="send_latency",
    )
    assert "in its own process, 10 ms latency per answer" in out
    assert out.count("paired ABBA rounds") == 2


def test_bench_campaign_runs() -> None:
    out = _run(
        "bench_campaign.py",
        *("--recipients", "300", "--rounds", "1", "--seconds", "0.01"),
        database="campaign",
    )
    assert "send_bulk() ÷ bare" in out
    assert "wall-time ratio:" in out
    assert "memory growth" in out


def test_the_stub_provider_answers_as_the_backend_expects(settings: Any) -> None:
    from benchmarks.stub_provider import OTP_DIGITS, StubProvider
    from django_sepsms.backends.base import OutgoingSms
    from django_sepsms.backends.sepsms import SepsmsBackend

    settings.SEPSMS = {**settings.SEPSMS, "THROTTLE": False}
    with StubProvider() as stub:
        process = stub.process
        with SepsmsBackend(api_key=stub.api_key, base_url=stub.base_url) as backend:
            sent = backend.send_message(
                OutgoingSms("hello", ["66812345678", "66912345678"], "BENCH")
            )
            assert sent.uuid
            assert sent.ref_no
            assert (sent.total_msisdn, sent.total_credit, sent.status) == (2, 2, "pending")
            otp = backend.send_otp(
                "66812345678", origin="BENCH", template="{code}", ttl=300, code_length=6
            )
            assert otp.destination == "66812345678"
            assert otp.ttl_seconds == 300
            assert not backend.verify_otp(otp.reference, "000000").verified
            assert backend.verify_otp(otp.reference, OTP_DIGITS[:6]).verified
            assert not backend.verify_otp(otp.reference, OTP_DIGITS[:6]).verified  # used
            assert backend.get_balance() > 0
        response = requests.post(stub.base_url + "/message/send", json={}, timeout=10)
        assert response.status_code == 401
        assert response.json()["success"] is False
    assert process is not None
    assert process.returncode == 0  # it stopped when its stdin closed


def test_the_stub_provider_holds_each_answer_for_its_latency() -> None:
    from benchmarks.stub_provider import StubProvider

    with StubProvider(latency=0.05) as stub, requests.Session() as session:
        session.headers["X-API-Key"] = stub.api_key
        url = stub.base_url + "/message/credit/balance"
        began = time.perf_counter()
        for _ in range(3):
            session.get(url, timeout=10).raise_for_status()
        assert time.perf_counter() - began >= 3 * 0.05


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

    def work(n: int) -> None:
        calls.append(n)
        time.sleep(0.001 * n)

    measure = rate_of(work)
    assert measure(0.02) > 0
    assert calls[-1] >= 10  # grown until one call lasted the round
