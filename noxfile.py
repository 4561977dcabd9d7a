"""The test matrix, lint, types and docs of django-sepsms, as nox sessions.

``nox -l`` lists them; ``nox -s NAME`` runs one; ``./scripts/test`` starts the services
the tests need (PostgreSQL, Redis, Chromium) and runs the CI sessions (``-t ci``) in two
lanes at once. Virtualenvs live in ``.nox/`` and are reused between runs (``-R`` or
``--reuse-existing-virtualenvs``; reuse is on by default here).

Environment:

``PYTEST_ARGS``
    extra pytest arguments for every tests session (e.g. ``"-k webhook"``)
``SEPSMS_TEST_PG_URL``
    the PostgreSQL server and base database name (default
    ``postgres://postgres@127.0.0.1:5432/sepsms``); each session uses its own database,
    this name plus the session's cell (``sepsms_py311_dj52``), so sessions can run at once
``REDIS_URL``
    the Redis server; each session uses a database of its own on it (15 down to 6) for
    the cache and the RQ and Celery queues (``SEPSMS_TEST_QUEUE_URL``)
``SEPSMS_FUZZ_EXAMPLES`` / ``SEPSMS_API_FUZZ_EXAMPLES``
    the fuzzing budgets, for every session (otherwise each cell has its own, below)
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import nox

# --parallel and allow_parallel (the CI lanes) came with this release.
nox.needs_version = ">=2026.10.20"
nox.options.reuse_venv = "yes"
# uv when nox finds it (scripts/test installs it beside nox): it sets up a cell's
# virtualenv in seconds where pip takes minutes; else the standard library's venv and pip.
nox.options.default_venv_backend = "uv|venv"
nox.options.download_python = "never"
nox.options.tags = ["ci"]

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PG_URL = os.environ.get("SEPSMS_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/sepsms")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
SPHINX = "python -m sphinx -W --keep-going -q -b html docs docs/_build/html"
LINTED = [
    "django_sepsms",
    "tests",
    "example_project",
    "benchmarks",
    "docs",
    "manage.py",
    "noxfile.py",
]

#: The fuzzing budgets (webhook inputs a run, schemathesis examples an operation):
#: every cell runs every test, the cells marked ``full`` (the oldest and the newest
#: Python and Django, on SQLite) with the full budgets, the others with a tenth, which
#: keeps CI under half an hour on two cores.
#: The timing rank tests (``-m timing``: thousands of paced requests, whose answers
#: are the same code on every cell) run on the ``full`` cells only, for the same reason.
FULL_FUZZ = {"SEPSMS_FUZZ_EXAMPLES": "2500", "SEPSMS_API_FUZZ_EXAMPLES": "650"}
LIGHT_FUZZ = {"SEPSMS_FUZZ_EXAMPLES": "300", "SEPSMS_API_FUZZ_EXAMPLES": "60"}
#: The quick cells and the lowest-bounds cell: the fuzzers still run, briefly.
QUICK_FUZZ = {"SEPSMS_FUZZ_EXAMPLES": "100", "SEPSMS_API_FUZZ_EXAMPLES": "20"}
#: The lowest-bounds cell leaves out the slow, browser and timing tests.
QUICK = ["-m", "not slow and not browser and not timing"]
#: The sdist cell runs the tests that read what lies outside the package (the docs and
#: their code blocks, README, the benchmarks, the translations, the layout): what the
#: sdist must hold. The package's behaviour is the other cells' business.
SDIST_TESTS = [
    "tests/test_docs.py",
    "tests/test_first_hour.py",
    "tests/test_benchmarks.py",
    "tests/test_i18n.py",
    "tests/test_structure.py",
    "tests/test_checks.py",
    "-m",
    "not browser and not timing",
]


def interpreter(version: str) -> str:
    """The newest pyenv-installed Python ``version`` (pyenv's shims of a version that is
    not the global one fail), else the bare version for nox to find on ``PATH``."""
    override = os.environ.get(f"SEPSMS_PYTHON{version.replace('.', '')}")
    if override:
        return override
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        root = found.stdout.strip() or root
    candidates = [
        path
        for path in glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python"))
        if re.fullmatch(rf"{re.escape(version)}\.\d+", Path(path).parent.parent.name)
    ]
    if not candidates:
        return version

    def patch(path: str) -> int:
        return int(Path(path).parent.parent.name.rsplit(".", 1)[1])

    return max(candidates, key=patch)


@dataclasses.dataclass(frozen=True)
class Cell:
    python: str
    django: str
    database: str  # "sqlite", "postgres" or "postgres-ssb" (server-side binding)
    ci: bool = False
    full: bool = False  # the full fuzzing budgets, and the timing tests
    quick: bool = False  # in CI, the quick subset (QUICK) only

    @property
    def slug(self) -> str:
        return f"py{self.python.replace('.', '')}_dj{self.django.replace('.', '')}"

    @property
    def name(self) -> str:
        return f"tests-{self.python}-django{self.django}-{self.database.split('-')[0]}"

    @property
    def old_django(self) -> bool:
        return tuple(map(int, self.django.split("."))) < (6, 0)


#: In the order ``--parallel`` starts them: the longest first.
#: CI (tag ``ci``) fits in half an hour on two cores: the whole suite takes about 14
#: minutes a cell there, two cells at a time, so it runs whole on the oldest pair on SQLite
#: and the newest on PostgreSQL with server-side binding, and quick on the 3.12 cells
#: (``SEPSMS_TEST_WHOLE=1`` runs those whole too); ``nox -s NAME`` runs any other cell.
CELLS = [
    Cell("3.11", "5.2", "sqlite", ci=True, full=True),
    Cell("3.13", "6.1", "postgres-ssb", ci=True),
    Cell("3.13", "6.1", "sqlite", quick=True),
    Cell("3.12", "5.2", "sqlite", ci=True, quick=True),
    Cell("3.12", "6.0", "sqlite", ci=True, quick=True),
    Cell("3.11", "5.2", "postgres"),
    Cell("3.12", "5.2", "postgres"),
    Cell("3.12", "6.0", "postgres"),
]


def database_url(cell: Cell) -> str:
    if cell.database == "sqlite":
        return "sqlite://"
    parts = urlsplit(PG_URL)
    base = parts.path.strip("/") or "sepsms"
    query = parts.query
    if cell.database == "postgres-ssb":
        # Server-side parameters and prepared statements, as busy sites configure psycopg.
        query = "&".join(filter(None, [query, "server_side_binding=true&prepare_threshold=5"]))
    return urlunsplit(parts._replace(path=f"/{base}_{cell.slug}", query=query))


def redis_env(number: int) -> dict[str, str]:
    """Database ``number`` of ``REDIS_URL``'s server, for the cache and the RQ and Celery
    queues: not every key is per process (the pumping guard's are the site's, the queue
    tests delete their queues' keys), so cells running at once need databases apart."""
    parts = urlsplit(REDIS_URL)
    url = urlunsplit(parts._replace(path=f"/{number}"))
    return {"REDIS_URL": url, "SEPSMS_TEST_QUEUE_URL": url}


def group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


def extras(django: str) -> str:
    """Every extra; ``tasks`` (the task framework's backport) only below Django 6."""
    names = ["drf", "openapi", "redis"]
    if tuple(map(int, django.split("."))) < (6, 0):
        names.append("tasks")
    return ",".join(sorted(names))


def pytest_args(session: nox.Session) -> list[str]:
    return [*shlex.split(os.environ.get("PYTEST_ARGS", "")), *session.posargs]


def fuzz_env(full: bool, quick: bool = False) -> dict[str, str]:
    budgets = FULL_FUZZ if full else QUICK_FUZZ if quick else LIGHT_FUZZ
    return {name: os.environ.get(name, value) for name, value in budgets.items()}


#: django-upgrade over the .py files under the paths given (docs/_build left out).
DJANGO_UPGRADE = """
import sys
from pathlib import Path
from django_upgrade.main import main
files = sorted(
    str(p)
    for name in sys.argv[1:]
    for p in (Path(name).rglob("*.py") if Path(name).is_dir() else [Path(name)])
    if "_build" not in p.parts
)
sys.exit(main(["--target-version", "5.2", *files]))
"""

#: What is installed, as ``name==version`` lines (a uv virtualenv has no pip to ask).
FREEZE = (
    "from importlib.metadata import distributions as d; "
    "print(*sorted(f\"{x.metadata['Name']}=={x.version}\" for x in d()), sep='\\n')"
)


def show_versions(session: nox.Session) -> None:
    session.run(
        "python",
        "-c",
        "import django, sys; print('Python', sys.version.split()[0], 'Django', "
        "django.get_version())",
        silent=False,
    )


def make_tests_session(cell: Cell, number: int) -> None:
    description = (
        f"pytest on Python {cell.python}, Django {cell.django}, "
        + {
            "sqlite": "SQLite",
            "postgres": "PostgreSQL",
            "postgres-ssb": "PostgreSQL with server-side binding and prepared statements",
        }[cell.database]
    )
    if cell.full:
        description += " (the full fuzzing budgets, the timing tests)"
    if cell.quick:
        description += " (quick subset unless SEPSMS_TEST_WHOLE=1)"

    def tests(session: nox.Session) -> None:
        session.install(
            "-e", f".[{extras(cell.django)}]", *group("test"), f"Django~={cell.django}.0"
        )
        show_versions(session)
        env = {
            "DATABASE_URL": database_url(cell),
            **redis_env(number),
            "COVERAGE_FILE": str(ROOT / f".coverage.{cell.slug}_{cell.database}"),
            **fuzz_env(cell.full, cell.quick),
        }
        session.run(
            "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--cov",
            "--cov-report=",
            *([] if cell.full else ["-m", "not timing"]),
            *(QUICK if cell.quick and not os.environ.get("SEPSMS_TEST_WHOLE") else []),
            *pytest_args(session),
            env=env,
        )

    tests.__doc__ = description
    tags = ["tests", cell.database.split("-")[0], f"django{cell.django}"]
    if cell.ci:
        tags.append("ci")
    nox.session(name=cell.name, python=interpreter(cell.python), tags=tags, allow_parallel=True)(
        tests
    )


for _number, _cell in enumerate(CELLS):
    # Redis databases 15 down to 8; tests-lowest 7, tests-sdist 6.
    make_tests_session(_cell, 15 - _number)


def floors(requirements: list[str]) -> list[str]:
    """``name>=X`` pinned to ``name==X``: the oldest release each requirement allows."""
    pinned = []
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][^,;\s]*)(.*)", requirement)
        pinned.append(f"{match[1]}=={match[2]}" if match else requirement)
    return pinned


@nox.session(
    name="tests-lowest", python=interpreter("3.11"), tags=["tests", "ci"], allow_parallel=True
)
def tests_lowest(session: nox.Session) -> None:
    """pytest, quick, with every dependency and extra at the floor pyproject.toml allows."""
    project = PYPROJECT["project"]
    runtime = [*project["dependencies"]]
    for name in ("drf", "openapi", "redis", "tasks", "rq", "otel"):
        runtime += project["optional-dependencies"][name]
    constraints = Path(session.create_tmp()) / "floors.txt"
    constraints.write_text("\n".join(floors(runtime)) + "\n", encoding="utf-8")
    session.install(
        "-e", ".[drf,openapi,redis,tasks,rq,otel]", *group("test"), "-c", str(constraints)
    )
    show_versions(session)
    session.run("python", "-c", FREEZE, silent=False)
    env = {"DATABASE_URL": "sqlite://", **redis_env(7), **fuzz_env(False, quick=True)}
    session.run("python", "-m", "pytest", "-q", *QUICK, *pytest_args(session), env=env)


@nox.session(
    name="tests-sdist", python=interpreter("3.13"), tags=["tests", "ci"], allow_parallel=True
)
def tests_sdist(session: nox.Session) -> None:
    """pytest from the unpacked sdist (package installed from it): what it must hold."""
    tmp = Path(session.create_tmp())
    session.install("build")
    for old in tmp.glob("django_sepsms-*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    session.run("python", "-m", "build", "--sdist", "--outdir", str(tmp), silent=True)
    (sdist,) = tmp.glob("django_sepsms-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp, filter="data")
    source = tmp / sdist.name.removesuffix(".tar.gz")
    session.install(f"{sdist}[drf,openapi,redis]", *group("test"), "Django~=6.1.0")
    show_versions(session)
    env = {"DATABASE_URL": "sqlite://", **redis_env(6), **fuzz_env(False)}
    with session.chdir(source):
        # The unpacked sdist is a whole source tree: the tests run there as in a checkout
        # (test_structure.py reads the package's files) and import its copy of the package,
        # the same files the sdist installed.
        session.run("python", "-m", "pytest", "-q", *SDIST_TESTS, *pytest_args(session), env=env)


@nox.session(python=interpreter("3.11"), tags=["ci"], allow_parallel=True)
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and django-upgrade (Django 5.2 idioms)."""
    session.install(*group("lint"))
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)
    # Every Python file of LINTED, listed by the interpreter rather than on the command
    # line, which nox would print whole.
    session.run("python", "-c", DJANGO_UPGRADE, *LINTED)


@nox.session(python=interpreter("3.11"), tags=["ci"], allow_parallel=True)
def types(session: nox.Session) -> None:
    """mypy over the app and the tests (Django and DRF stubs); no migration missing."""
    session.install("-e", ".[drf,openapi,redis,tasks]", *group("types"), "Django~=5.2.0")
    session.run("mypy")
    session.run(
        "python",
        "-m",
        "django",
        "makemigrations",
        "--check",
        "--dry-run",
        env={"DJANGO_SETTINGS_MODULE": "tests.settings"},
    )


@nox.session(python=interpreter("3.11"), tags=["ci"], allow_parallel=True)
def docs(session: nox.Session) -> None:
    """The Sphinx docs, every warning an error."""
    session.install("-e", ".", *group("docs"), "Django~=5.2.0")
    session.run(*SPHINX.split())


# Last, and alone (not allow_parallel): once every other session has finished.
@nox.session(python=interpreter("3.11"), tags=["ci"], allow_parallel=False)
def coverage(session: nox.Session) -> None:
    """The coverage of every tests session run so far, combined (at least 90 %)."""
    session.install("coverage[toml]>=7")
    files = sorted(str(path) for path in ROOT.glob(".coverage.*"))
    if not files:
        session.skip("no coverage data: run a tests session first")
    session.run("coverage", "combine", "--keep", *files)
    session.run(
        "coverage", "report", "--fail-under=90", "--skip-covered", "--skip-empty", silent=False
    )
