"""This app's DRF code request and check against django-phone-verify's, under one gunicorn.

    python benchmarks/bench_peer.py --setup      # once: makes benchmarks/.venv-peer
    python benchmarks/bench_peer.py [--rounds 6] [--seconds 1] [--floor both]
        [--workers 4] [--connections 8] [--cache redis]

The peer, django-phone-verify 3.x, lives in a virtualenv of its own
(``benchmarks/.venv-peer``, or ``BENCH_PEER_VENV``) with this checkout, DRF,
gunicorn and psycopg; the script runs itself there. One Django project
(``peer_site.py``) serves both apps from one gunicorn (sync workers), one
PostgreSQL database and one cache; neither sends an SMS (this app's
``DummyBackend``, a do-nothing ``BaseBackend`` subclass for the peer). wrk
(``apt-get install wrk``) posts through ``wrk_requests.lua``:

- code requests, a different number each (``+6681…``): this app's
  ``POST sepsms/api/otp/`` ÷ the peer's ``POST peer/phone/register``;
- checks, each of a right code made for it before the round (this app's
  through its own API in this process, the peer's by its backend), each code
  checked once: ``POST sepsms/api/otp/verify/`` (reference, pin, flow token)
  ÷ ``POST peer/phone/verify`` (number, session token, code). Both apps' codes
  are single-use (the peer's ``VERIFY_SECURITY_CODE_ONLY_ONCE``).

Each side is first driven for ``--prime`` seconds, unmeasured (a worker's
first answers are slow, and this app's answers wait for the slowest of its
recent real ones); each side's round starts from empty tables. This app's limits are off
(``RATELIMITS`` all ``None``, no resend cooldown): nothing is refused. With
``--floor off`` this app's answers have no timing floor
(``OTP_MIN_ANSWER_TIME = 0``; they still wait for the slowest recent real
answer, as the timing rule says), with ``--floor default`` the default floor
(0.25 s) holds; ``both`` (the default) measures each. Prints the median and
min-max of the per-round ratios this app ÷ peer over paired ABBA rounds.
Targets (floor off): code request >= 0.8 (stretch 1.0), check >= 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import Comparison, Side, add_round_arguments, compare  # noqa: E402
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

VENV = Path(os.environ.get("BENCH_PEER_VENV", ROOT / "benchmarks" / ".venv-peer"))
PEER_REQUIREMENT = "django-phone-verify>=3,<4"
DB_NAME = f"sepsms_bench_peer_{os.getpid()}"
CACHE_PREFIX = f"sepsms-bench-peer-{os.getpid()}"
JSON = {"Content-Type": "application/json"}
_CODE = re.compile(r"code (\d+) ref")


def venv_python() -> Path:
    return VENV / "bin" / "python"


def peer_available() -> bool:
    """Whether the peer's virtualenv exists and has django-phone-verify."""
    python = venv_python()
    if not python.exists():
        return False
    found = subprocess.run([python, "-c", "import phone_verify"], capture_output=True, check=False)
    return found.returncode == 0


def setup_venv() -> None:
    """Make (or bring up to date) the peer's virtualenv."""
    if not venv_python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [
            str(venv_python()),
            *("-m", "pip", "install", "-q", "--disable-pip-version-check"),
            *("-e", f"{ROOT}[drf,redis]", PEER_REQUIREMENT, "gunicorn", "psycopg[binary]"),
        ],
        check=True,
    )


def phones(start: int, count: int) -> list[str]:
    return [f"+6681{i:07d}" for i in range(start, start + count)]


class Numbers:
    """Numbers never used before in this run."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, count: int) -> list[str]:
        taken = phones(self.used, count)
        self.used += count
        return taken


def empty_tables() -> None:
    """Both apps' tables (and the sessions) emptied, as at the start of every round."""
    from django.apps import apps
    from django.contrib.sessions.models import Session
    from django.db import connection
    from phone_verify.models import SMSVerification

    models = [*apps.get_app_config("sepsms").get_models(), SMSVerification, Session]
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} CASCADE")


def this_app_codes(numbers: list[str]) -> Iterator[Post]:
    """Checks of right codes, one a number, the codes asked through this app's own API."""
    from django.test import Client

    import django_sepsms

    client = Client()
    for phone in numbers:
        django_sepsms.outbox.clear()
        answer = client.post("/sepsms/api/otp/", {"phone": phone}, content_type="application/json")
        if answer.status_code != 200 or len(django_sepsms.outbox) != 1:
            raise SystemExit(f"this app's code request answered {answer.status_code}")
        found = _CODE.search(django_sepsms.outbox[0].message)
        assert found is not None, django_sepsms.outbox[0].message
        sent = answer.json()
        body = {"reference": sent["reference"], "pin": found[1], "flow_token": sent["flow_token"]}
        yield Post("/sepsms/api/otp/verify/", _json(body), JSON)


def peer_codes(numbers: list[str]) -> Iterator[Post]:
    """Checks of right codes, one a number, the codes made by the peer's backend."""
    from benchmarks.peer_backend import SilentBackend

    backend = SilentBackend()
    for phone in numbers:
        code, token = backend.create_security_code_and_session_token(phone)
        body = {"phone_number": phone, "session_token": token, "security_code": code}
        yield Post("/peer/phone/verify", _json(body), JSON)


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def count_codes(app: str, *, checked: bool) -> int:
    """Codes in ``app``'s table (only those verified, with ``checked``)."""
    from phone_verify.models import SMSVerification

    from django_sepsms.models import OtpChallenge

    if app == "peer":
        return SMSVerification.objects.filter(**({"is_verified": True} if checked else {})).count()
    rows = OtpChallenge.objects.all()
    return (rows.filter(status=OtpChallenge.Status.VERIFIED) if checked else rows).count()


class Bench:
    """The server, the wrk settings and the numbers one run's sides share."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir, self.numbers = args, workdir, Numbers()
        self.server: Gunicorn | None = None

    def side(
        self, name: str, app: str, *, path: str, posts: Callable[[list[str]], Iterator[Post]]
    ) -> Side:
        """A side posting what ``posts`` makes for fresh numbers, each request once."""
        checked = path.endswith(("verify/", "verify"))
        size = [200]
        requests_file = self.workdir / f"{app}-{'checks' if checked else 'codes'}.txt"

        def measure(seconds: float) -> float:
            assert self.server is not None
            while True:
                empty_tables()
                write_requests(requests_file, posts(self.numbers.take(size[0])))
                result = run_wrk(
                    self.server.url(path),
                    requests_file,
                    seconds=seconds,
                    connections=self.args.connections,
                    threads=self.args.threads,
                )
                if result.wraps:  # a number or code came twice: again, with enough
                    settled(lambda: count_codes(app, checked=checked))
                    size[0] = max(2 * size[0], int(1.5 * result.requests))
                    continue
                self.check(name, app, result, checked=checked)
                size[0] = max(size[0], int(1.5 * result.requests) + 2 * self.args.connections)
                return result.rate

        return Side(name, measure)

    def check(self, name: str, app: str, result: WrkResult, *, checked: bool) -> None:
        if result.bad_status or result.socket_errors:
            raise SystemExit(
                f"{name}: {result.bad_status} refused, {result.socket_errors} socket errors"
            )
        rows = settled(lambda: count_codes(app, checked=checked))
        if not result.requests <= rows <= result.requests + self.args.connections:
            raise SystemExit(f"{name}: {result.requests} answers but {rows} codes")

    def compare(self, baseline: Side, candidate: Side) -> Comparison:
        """Both sides primed (each for ``--prime`` seconds), then paired ABBA rounds."""
        if self.args.prime > 0:
            baseline.measure(self.args.prime)
            candidate.measure(self.args.prime)
        return compare(
            baseline,
            candidate,
            unit="requests",
            rounds=self.args.rounds,
            seconds=self.args.seconds,
        )


def run(args: argparse.Namespace) -> None:
    import django
    import psycopg

    import django_sepsms

    here = Path(django_sepsms.__file__).resolve()
    if ROOT not in here.parents:
        raise SystemExit(f"django_sepsms comes from {here}, not from this checkout")
    admin = psycopg.connect(admin_dsn(os.environ), autocommit=True)
    admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    workdir = tempfile.TemporaryDirectory(prefix="sepsms-bench-peer-")
    try:
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import phone_verify

        version = getattr(phone_verify, "__version__", "3.x")
        print(
            f"django-phone-verify {version}; wrk: {args.threads} thread(s), {args.connections} "
            f"connections; gunicorn: {args.workers} sync workers; PostgreSQL; "
            f"cache: {args.cache}; this app's limits off"
        )
        bench = Bench(args, Path(workdir.name))
        floors = ["off", "default"] if args.floor == "both" else [args.floor]
        for floor in floors:
            env = {
                **os.environ,
                "BENCH_SEPSMS_BACKEND": "django_sepsms.backends.dummy.DummyBackend",
                "BENCH_OTP_FLOOR": "0" if floor == "off" else "",
                "BENCH_CACHE": args.cache,
                "BENCH_CACHE_PREFIX": CACHE_PREFIX,
            }
            label = "no timing floor" if floor == "off" else "the default timing floor (0.25 s)"
            with Gunicorn(
                "benchmarks.peer_site_wsgi:application",
                env=env,
                workers=args.workers,
                python=str(venv_python()),
            ) as server:
                bench.server = server
                codes = bench.compare(
                    bench.side(
                        "django-phone-verify POST peer/phone/register",
                        "peer",
                        path="/peer/phone/register",
                        posts=lambda n: (
                            Post("/peer/phone/register", _json({"phone_number": p}), JSON)
                            for p in n
                        ),
                    ),
                    bench.side(
                        "this app POST sepsms/api/otp/",
                        "sepsms",
                        path="/sepsms/api/otp/",
                        posts=lambda n: (
                            Post("/sepsms/api/otp/", _json({"phone": p}), JSON) for p in n
                        ),
                    ),
                )
                print(codes.report(f"code request, this app ÷ django-phone-verify, {label}"))
                if floor == "off":
                    print("  target: >= 0.8 (stretch 1.0)")
                checks = bench.compare(
                    bench.side(
                        "django-phone-verify POST peer/phone/verify",
                        "peer",
                        path="/peer/phone/verify",
                        posts=peer_codes,
                    ),
                    bench.side(
                        "this app POST sepsms/api/otp/verify/",
                        "sepsms",
                        path="/sepsms/api/otp/verify/",
                        posts=this_app_codes,
                    ),
                )
                print(checks.report(f"check of a right code, this app ÷ peer, {label}"))
                if floor == "off":
                    print("  target: >= 1.0")
    finally:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.close()
        workdir.cleanup()
        if args.cache == "redis":
            drop_cache_keys(CACHE_PREFIX)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_round_arguments(parser)
    parser.add_argument("--setup", action="store_true", help="Make the peer's venv, then stop.")
    parser.add_argument("--floor", choices=["off", "default", "both"], default="both")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (4).")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8).")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1).")
    parser.add_argument(
        "--prime",
        type=float,
        default=5.0,
        help="Seconds each side is driven before the rounds (5): every worker's first, "
        "slow answers then are no longer among the recent ones this app's answers wait for.",
    )
    parser.add_argument(
        "--cache",
        choices=["redis", "locmem", "dummy"],
        default="redis",
        help="The server's cache: redis (default, as in production); dummy keeps nothing, "
        "so this app's answers wait for no recent slower one (a diagnosis, not a setup).",
    )
    args = parser.parse_args()
    if args.setup:
        setup_venv()
        return
    if not wrk_available():
        raise SystemExit("bench_peer.py drives gunicorn with wrk: apt-get install wrk")
    if Path(sys.prefix).resolve() != VENV.resolve():
        if not peer_available():
            raise SystemExit(f"no peer venv at {VENV}: run bench_peer.py --setup first")
        os.execv(str(venv_python()), [str(venv_python()), __file__, *sys.argv[1:]])
    os.environ.update(database_env(os.environ.get("DATABASE_URL"), DB_NAME))
    os.environ.update(
        {
            # This process asks for the codes the checks use and keeps them. Its answers
            # are not measured: no floor, and a cache that keeps nothing, so no timing
            # samples to wait for either (nothing a check needs is in the cache).
            "BENCH_CACHE": "dummy",
            "BENCH_SEPSMS_BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
            "BENCH_OTP_FLOOR": "0",
            "DJANGO_SETTINGS_MODULE": "benchmarks.peer_site",
        }
    )
    run(args)


if __name__ == "__main__":
    main()
