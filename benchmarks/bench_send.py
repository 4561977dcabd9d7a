"""Throughput of the app's sending through the simulator against bare HTTP posts.

    python benchmarks/bench_send.py [--recipients 10000] [--rounds 3]

Sends the same recipients three times per round, in the same process, to the
same simulator:

1. bare ``requests.Session.post`` calls carrying the very payloads the app
   sends (the baseline);
2. the HTTP backend, ``SepsmsBackend.send_messages()``, one request per
   ``BATCH_SIZE`` numbers (headers, throttle, retries, errors, answers read);
3. ``send_sms()`` end to end: validation, recording every recipient row
   before its request, the HTTP backend, storing the answers on the rows.

Prints the best round of each and the ratios of throughputs (against the
baseline; 1.0 = no overhead).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "sqlite://")

import django

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from django_sepsms import get_backend, send_sms  # noqa: E402
from django_sepsms.backends.base import OutgoingSms  # noqa: E402
from django_sepsms.conf import sepsms_settings  # noqa: E402
from django_sepsms.models import Message  # noqa: E402
from django_sepsms.simulator import Simulator  # noqa: E402

KEY = "sk_sep_bench"
TEXT = "สวัสดีคุณลูกค้า รับส่วนลด 10% วันนี้"


def numbers(count: int) -> list[str]:
    return [f"0{8 + i % 2}{i:08d}"[:10] for i in range(count)]


def normalised(phones: list[str]) -> list[str]:
    return ["66" + p[1:] for p in phones]


def baseline(sim: Any, phones: list[str], batch: int) -> float:
    session = requests.Session()
    session.headers.update({"X-API-Key": KEY})
    numbers = normalised(phones)
    start = time.perf_counter()
    for i in range(0, len(numbers), batch):
        response = session.post(
            sim.base_url + "/message/send",
            json={
                "origin": "BENCH",
                "message": TEXT,
                "recipients": numbers[i : i + batch],
                "scheduledTime": None,
            },
            timeout=30,
        )
        response.raise_for_status()
    elapsed = time.perf_counter() - start
    session.close()
    return elapsed


def http_backend(phones: list[str], batch: int) -> float:
    numbers = normalised(phones)
    messages = [
        OutgoingSms(TEXT, numbers[i : i + batch], "BENCH") for i in range(0, len(numbers), batch)
    ]
    backend = get_backend()
    start = time.perf_counter()
    sent = backend.send_messages(messages)
    elapsed = time.perf_counter() - start
    assert sent == len(messages), sent
    return elapsed


def app(phones: list[str]) -> float:
    start = time.perf_counter()
    msg = send_sms(TEXT, phones)
    elapsed = time.perf_counter() - start
    assert msg.status == Message.Status.PENDING, msg.status
    return elapsed


_SIMULATOR_PROCESS = """
import sys
from django_sepsms.simulator import Simulator
sim = Simulator(api_keys={%r: {"sms:send"}}, credits=10**9)
sim.start()
sim.rate_limits_enabled = False
if %r:
    sim.delay_next(seconds=%r, times=10**9, process=True)
print(sim.base_url, flush=True)
sys.stdin.read()
"""


class SimulatorProcess:
    """The simulator in a process of its own, as the provider is another machine.

    ``latency`` delays every answer, as a network round trip would.
    """

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency

    def __enter__(self) -> SimulatorProcess:
        source = _SIMULATOR_PROCESS % (KEY, bool(self.latency), self.latency)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", source],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)

    def reset(self) -> None:
        """Nothing to reset: credits are plentiful and limits are off."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="Seconds the simulator waits before each answer (a network round trip).",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="Run the simulator in this process, where its work competes with the app's.",
    )
    args = parser.parse_args()

    setup_test_environment()
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    call_command("migrate", verbosity=0)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(args: argparse.Namespace) -> None:
    from django.db import connection

    phones = numbers(args.recipients)
    simulator: Any = (
        Simulator(api_keys={KEY: {"sms:send"}}, credits=10**9)
        if args.in_process
        else SimulatorProcess(args.latency)
    )
    with simulator as sim:
        sim.rate_limits_enabled = False
        settings = {
            "BACKEND": "django_sepsms.backends.sepsms.SepsmsBackend",
            "API_KEY": KEY,
            "BASE_URL": sim.base_url,
            "ORIGIN": "BENCH",
            "BATCH_SIZE": args.batch,
            "THROTTLE": False,
            "TIMEOUT": 30,
        }
        base_times: list[float] = []
        backend_times: list[float] = []
        app_times: list[float] = []
        with override_settings(SEPSMS=settings):
            requests_per_run = -(-args.recipients // args.batch)
            for _ in range(args.rounds):
                for measure, times in (
                    (lambda: baseline(sim, phones, args.batch), base_times),
                    (lambda: http_backend(phones, args.batch), backend_times),
                    (lambda: app(phones), app_times),
                ):
                    sim.reset()
                    if isinstance(sim, Simulator):
                        sim.credits = 10**9
                        sim.rate_limits_enabled = False
                    if args.latency and isinstance(sim, Simulator):
                        sim.delay_next(seconds=args.latency, times=requests_per_run, process=True)
                    times.append(measure())
    best_base = min(base_times)
    where = "this process" if isinstance(simulator, Simulator) else "its own process"
    print(f"recipients per run:      {args.recipients:,} in batches of {args.batch:,}")
    print(f"simulator:               in {where}, {args.latency * 1000:.0f} ms latency")
    print(f"database:                {connection.vendor}")
    print(
        "throttle:                off on both sides (the provider's 120 requests a minute\n"
        "                         would pace both alike); the app sends up to "
        f"{sepsms_settings.SEND_CONCURRENCY} at once"
    )
    print(f"baseline (bare POSTs):   {args.recipients / best_base:,.0f} recipients/s")
    for label, times in (("HTTP backend", backend_times), ("send_sms()", app_times)):
        best = min(times)
        rounds = ", ".join(f"{b / t:.2f}" for t, b in zip(times, base_times, strict=True))
        print(f"{label + ':':<24} {args.recipients / best:,.0f} recipients/s")
        print(f"  ratio in each round:   {rounds}")
        print(f"  ratio to baseline:     {best_base / best:.2f}  (best of each; target >= 0.80)")


if __name__ == "__main__":
    main()
